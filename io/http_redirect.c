/* Where a redirect may go. libcurl's own following (CURLOPT_FOLLOWLOCATION)
 * sends CURLOPT_HTTPHEADER to every host of the chain and strips only
 * Authorization and Cookie, so http.c follows redirects itself and asks
 * here whether a hop stays on the first URL's origin (RFC 6454: scheme,
 * host, port). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_private.h"

bool http_is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static void lower(char *text)
{
    for (char *p = text; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
}

int http_origin(const char *url, char scheme[HTTP_SCHEME_SIZE], char **origin)
{
    char *part_scheme = NULL;
    char *host = NULL;
    char *port = NULL;
    int rc = -EINVAL;

    *origin = NULL;
    scheme[0] = '\0';
    CURLU *parsed = curl_url();
    if (parsed == NULL)
        return -ENOMEM;
    if (curl_url_set(parsed, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(parsed, CURLUPART_SCHEME, &part_scheme, 0) != CURLUE_OK)
        goto out;
    lower(part_scheme);
    snprintf(scheme, HTTP_SCHEME_SIZE, "%s", part_scheme);
    rc = 0;
    if (curl_url_get(parsed, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out; /* file:///etc/passwd and the like: a scheme, no host */
    /* An unknown scheme has no default port; "" keeps it distinct. */
    if (curl_url_get(parsed, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        port = NULL;
    lower(host);
    size_t size = strlen(part_scheme) + strlen(host) + (port != NULL ? strlen(port) : 0) + 5;
    *origin = malloc(size);
    if (*origin == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    snprintf(*origin, size, "%s://%s:%s", part_scheme, host, port != NULL ? port : "");
out:
    curl_free(port);
    curl_free(host);
    curl_free(part_scheme);
    curl_url_cleanup(parsed);
    return rc;
}
