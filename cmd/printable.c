#include <stdbool.h>
#include <stdint.h>

#include "printable.h"

/* The length of the valid UTF-8 sequence at `p` (shortest form, no
 * surrogates, at most U+10FFFF), or 0 when there is none. Stops at the NUL:
 * a continuation byte is never 0. */
static size_t utf8_length(const unsigned char *p, uint32_t *code_point)
{
    unsigned char lead = p[0];
    size_t length;
    uint32_t min;
    uint32_t cp;
    if (lead < 0x80) {
        *code_point = lead;
        return 1;
    }
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2, min = 0x80, cp = lead & 0x1f;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3, min = 0x800, cp = lead & 0x0f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4, min = 0x10000, cp = lead & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < length; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    *code_point = cp;
    return length;
}

void printable_write(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        uint32_t cp = 0;
        size_t length = utf8_length(p, &cp);
        bool control = length == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
        if (length == 0)
            length = 1; /* not UTF-8: this byte alone, escaped */
        for (size_t i = 0; i < length; i++) {
            if (control)
                fprintf(out, "\\x%02x", p[i]);
            else
                fputc(p[i], out);
        }
        p += length;
    }
}
