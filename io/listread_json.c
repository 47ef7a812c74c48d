/* The JSON Lines rows of the list reader (io/listread.c): a strict parser
 * (RFC 8259) of one object a line that decodes the URL and name fields and
 * checks and skips the rest. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "io.h"
#include "listread_private.h"

/* JSON values nested deeper than this (inside a line's object) fail the row:
 * skipping them recurses, so the depth is bounded. */
#define MAX_JSON_DEPTH 64

struct json_cursor {
    const char *p;
    const char *end;
    const char *start;
    const char *error; /* the first reason it failed */
    const char *error_at;
};

static bool json_fail(struct json_cursor *cur, const char *why)
{
    if (cur->error == NULL) {
        cur->error = why;
        cur->error_at = cur->p;
    }
    return false;
}

static void json_ws(struct json_cursor *cur)
{
    while (cur->p < cur->end &&
           (*cur->p == ' ' || *cur->p == '\t' || *cur->p == '\r' || *cur->p == '\n'))
        cur->p++;
}

static int json_hex4(const char *p)
{
    int value = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int digit = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
        if (digit < 0)
            return -1;
        value = value * 16 + digit;
    }
    return value;
}

static size_t put_utf8(char *out, unsigned code)
{
    if (code < 0x80) {
        out[0] = (char)code;
        return 1;
    }
    if (code < 0x800) {
        out[0] = (char)(0xC0 | (code >> 6));
        out[1] = (char)(0x80 | (code & 0x3F));
        return 2;
    }
    if (code < 0x10000) {
        out[0] = (char)(0xE0 | (code >> 12));
        out[1] = (char)(0x80 | ((code >> 6) & 0x3F));
        out[2] = (char)(0x80 | (code & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (code >> 18));
    out[1] = (char)(0x80 | ((code >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((code >> 6) & 0x3F));
    out[3] = (char)(0x80 | (code & 0x3F));
    return 4;
}

/* A string at cur->p (its opening quote), decoded into `out` (room for the
 * line: a decoded string is never longer than its text) unless NULL. A
 * decoded NUL is refused: no URL or name holds one. */
static bool json_string(struct json_cursor *cur, char *out, size_t *out_len)
{
    size_t used = 0;
    cur->p++; /* the opening quote */
    while (cur->p < cur->end) {
        unsigned char c = (unsigned char)*cur->p;
        if (c == '"') {
            cur->p++;
            if (out != NULL) {
                out[used] = '\0';
                *out_len = used;
            }
            return true;
        }
        if (c < 0x20)
            return json_fail(cur, "a control character inside a string");
        if (c != '\\') {
            if (out != NULL)
                out[used++] = (char)c;
            cur->p++;
            continue;
        }
        if (cur->end - cur->p < 2)
            return json_fail(cur, "a string is not closed");
        char escape = cur->p[1];
        const char *simple = strchr("\"\\/bfnrt", escape);
        if (escape != '\0' && simple != NULL && escape != 'u') {
            static const char decoded[] = "\"\\/\b\f\n\r\t";
            if (out != NULL)
                out[used++] = decoded[simple - "\"\\/bfnrt"];
            cur->p += 2;
            continue;
        }
        if (escape != 'u')
            return json_fail(cur, "an unknown escape in a string");
        if (cur->end - cur->p < 6 || json_hex4(cur->p + 2) < 0)
            return json_fail(cur, "a \\u escape without 4 hex digits");
        /* Errors point at the escape, not past it. */
        unsigned code = (unsigned)json_hex4(cur->p + 2);
        if (code >= 0xDC00 && code <= 0xDFFF)
            return json_fail(cur, "a lone low surrogate");
        if (code >= 0xD800 && code <= 0xDBFF) {
            /* RFC 8259 section 7: a character outside the BMP is a surrogate pair. */
            const char *low_at = cur->p + 6;
            if (cur->end - low_at < 6 || low_at[0] != '\\' || low_at[1] != 'u' ||
                json_hex4(low_at + 2) < 0xDC00 || json_hex4(low_at + 2) > 0xDFFF)
                return json_fail(cur, "a high surrogate without its low surrogate");
            unsigned low = (unsigned)json_hex4(low_at + 2);
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            cur->p += 6;
        }
        if (code == 0 && out != NULL)
            return json_fail(cur, "\\u0000 in a string");
        cur->p += 6;
        if (out != NULL)
            used += put_utf8(out + used, code);
    }
    return json_fail(cur, "a string is not closed");
}

static bool json_digits(struct json_cursor *cur)
{
    const char *first = cur->p;
    while (cur->p < cur->end && *cur->p >= '0' && *cur->p <= '9')
        cur->p++;
    return cur->p > first;
}

/* RFC 8259 section 6: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number(struct json_cursor *cur)
{
    if (cur->p < cur->end && *cur->p == '-')
        cur->p++;
    if (cur->p < cur->end && *cur->p == '0')
        cur->p++;
    else if (cur->p >= cur->end || *cur->p < '1' || *cur->p > '9' || !json_digits(cur))
        return json_fail(cur, "not a value");
    if (cur->p < cur->end && *cur->p == '.') {
        cur->p++;
        if (!json_digits(cur))
            return json_fail(cur, "a number with no digits after its '.'");
    }
    if (cur->p < cur->end && (*cur->p == 'e' || *cur->p == 'E')) {
        cur->p++;
        if (cur->p < cur->end && (*cur->p == '+' || *cur->p == '-'))
            cur->p++;
        if (!json_digits(cur))
            return json_fail(cur, "a number with no digits in its exponent");
    }
    return true;
}

static bool json_literal(struct json_cursor *cur, const char *word)
{
    size_t len = strlen(word);
    if ((size_t)(cur->end - cur->p) < len || memcmp(cur->p, word, len) != 0)
        return json_fail(cur, "not a value");
    cur->p += len;
    return true;
}

static bool json_skip_value(struct json_cursor *cur, int depth);

/* An object or array at cur->p, skipped: `close` is '}' or ']'. */
static bool json_skip_container(struct json_cursor *cur, int depth, char close)
{
    if (depth >= MAX_JSON_DEPTH)
        return json_fail(cur, "nested deeper than 64 levels");
    cur->p++;
    json_ws(cur);
    if (cur->p < cur->end && *cur->p == close) {
        cur->p++;
        return true;
    }
    for (;;) {
        json_ws(cur);
        if (close == '}') {
            if (cur->p >= cur->end || *cur->p != '"')
                return json_fail(cur, "expected a key string");
            if (!json_string(cur, NULL, NULL))
                return false;
            json_ws(cur);
            if (cur->p >= cur->end || *cur->p != ':')
                return json_fail(cur, "expected ':'");
            cur->p++;
            json_ws(cur);
        }
        if (!json_skip_value(cur, depth + 1))
            return false;
        json_ws(cur);
        if (cur->p < cur->end && *cur->p == ',') {
            cur->p++;
            continue;
        }
        if (cur->p < cur->end && *cur->p == close) {
            cur->p++;
            return true;
        }
        return json_fail(cur, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static bool json_skip_value(struct json_cursor *cur, int depth)
{
    if (cur->p >= cur->end)
        return json_fail(cur, "a value is missing");
    switch (*cur->p) {
    case '"':
        return json_string(cur, NULL, NULL);
    case '{':
        return json_skip_container(cur, depth, '}');
    case '[':
        return json_skip_container(cur, depth, ']');
    case 't':
        return json_literal(cur, "true");
    case 'f':
        return json_literal(cur, "false");
    case 'n':
        return json_literal(cur, "null");
    default:
        return json_number(cur);
    }
}

/* One line's object: the url field (and the name field) decoded, the rest
 * checked and skipped. A key given twice: the last one counts (as Python's
 * json and jq read it). */
static bool json_parse_object(struct io_list_reader *reader, struct json_cursor *cur,
                              const char **not_string)
{
    const char *url_key = reader->opts.url_column;
    const char *name_key = reader->opts.name_column;
    json_ws(cur);
    if (cur->p >= cur->end || *cur->p != '{')
        return json_fail(cur, "not a JSON object");
    cur->p++;
    json_ws(cur);
    if (cur->p < cur->end && *cur->p == '}') {
        cur->p++;
    } else {
        for (;;) {
            json_ws(cur);
            size_t key_len = 0;
            if (cur->p >= cur->end || *cur->p != '"')
                return json_fail(cur, "expected a key string");
            /* A key may decode to a NUL; it is then no key of ours. */
            const char *key_start = cur->p;
            if (!json_string(cur, reader->key, &key_len)) {
                cur->error = NULL;
                cur->p = key_start;
                if (!json_string(cur, NULL, NULL))
                    return false;
                key_len = SIZE_MAX;
            }
            json_ws(cur);
            if (cur->p >= cur->end || *cur->p != ':')
                return json_fail(cur, "expected ':'");
            cur->p++;
            json_ws(cur);
            bool is_url = key_len == strlen(url_key) && memcmp(reader->key, url_key, key_len) == 0;
            bool is_name = name_key != NULL && key_len == strlen(name_key) &&
                           memcmp(reader->key, name_key, key_len) == 0;
            if ((is_url || is_name) && cur->p < cur->end && *cur->p == '"') {
                bool ok = is_url ? json_string(cur, reader->url, &reader->url_len)
                                 : json_string(cur, reader->name, &reader->name_len);
                if (!ok)
                    return false;
                if (is_url) {
                    reader->has_url = true;
                    *not_string = NULL;
                } else {
                    reader->has_name = true;
                }
            } else {
                if (is_url) {
                    reader->has_url = false;
                    *not_string = url_key;
                }
                if (is_name)
                    reader->has_name = false;
                if (!json_skip_value(cur, 1))
                    return false;
            }
            json_ws(cur);
            if (cur->p < cur->end && *cur->p == ',') {
                cur->p++;
                continue;
            }
            if (cur->p < cur->end && *cur->p == '}') {
                cur->p++;
                break;
            }
            return json_fail(cur, "expected ',' or '}'");
        }
    }
    json_ws(cur);
    if (cur->p != cur->end)
        return json_fail(cur, "text after the object");
    return true;
}

int io__list_next_jsonl(struct io_list_reader *reader, struct io_list_row *row)
{
    for (;;) {
        char *text;
        size_t len;
        bool too_long;
        int rc = io__list_next_line(reader, &text, &len, &too_long);
        if (rc <= 0)
            return rc;
        io__list_skip_bom(reader, &text, &len);
        char *probe = text;
        size_t probe_len = len;
        io__list_trim(&probe, &probe_len);
        if (probe_len == 0 && !too_long)
            continue;
        if (too_long)
            return io__list_too_long_row(reader, row, reader->line_no);
        reader->has_url = false;
        reader->has_name = false;
        const char *not_string = NULL;
        struct json_cursor cur = {.p = text, .end = text + len, .start = text};
        if (!json_parse_object(reader, &cur, &not_string)) {
            char detail[128];
            snprintf(detail, sizeof(detail), "%s at byte %zu", cur.error,
                     (size_t)(cur.error_at - cur.start) + 1);
            return io__list_row_error(reader, row, reader->line_no, -EINVAL, "not valid JSON: %s",
                                      detail);
        }
        if (not_string != NULL)
            return io__list_row_error(reader, row, reader->line_no, -EINVAL,
                                      "the \"%s\" field is not a string", not_string);
        if (!reader->has_url)
            return io__list_row_error(reader, row, reader->line_no, -EINVAL, "no \"%s\" field",
                                      reader->opts.url_column);
        char *url = reader->url;
        size_t url_len = reader->url_len;
        io__list_trim(&url, &url_len);
        if (url_len == 0)
            return io__list_row_error(reader, row, reader->line_no, -EINVAL,
                                      "the \"%s\" field is empty", reader->opts.url_column);
        reader->url[url - reader->url + (ptrdiff_t)url_len] = '\0';
        row->url = url;
        row->url_len = url_len;
        if (reader->has_name && reader->name_len > 0) {
            row->name = reader->name;
            row->name_len = reader->name_len;
        }
        row->line = reader->line_no;
        return 1;
    }
}
