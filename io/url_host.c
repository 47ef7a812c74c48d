#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "io.h"

int io_url_host(const char *url, char *host, size_t host_size)
{
    char *name = NULL;
    char *port = NULL;
    int rc = -EINVAL;

    CURLU *parsed = curl_url();
    if (parsed == NULL)
        return -ENOMEM;
    if (curl_url_set(parsed, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(parsed, CURLUPART_HOST, &name, 0) != CURLUE_OK ||
        curl_url_get(parsed, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        goto out;
    /* Host names are case-insensitive (RFC 3986, 3.2.2). */
    for (char *p = name; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    rc = snprintf(host, host_size, "%s:%s", name, port) < (int)host_size ? 0 : -ENAMETOOLONG;
out:
    curl_free(port);
    curl_free(name);
    curl_url_cleanup(parsed);
    return rc;
}
