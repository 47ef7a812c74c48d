/* Config files (--config FILE, and the default one): the format is in
 * cli.h and edgefetch(1). The file is read whole into one buffer that the
 * values point into, NUL-terminated in place. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Config files are a few lines; a cap so /dev/zero cannot fill memory. */
#define CONFIG_MAX_BYTES (1024 * 1024)

int config_default_path(char *path, size_t size)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int written;
    /* The XDG base directory spec: a relative value is to be ignored. */
    if (xdg != NULL && xdg[0] == '/')
        written = snprintf(path, size, "%s/edgefetch/config", xdg);
    else if (home != NULL && home[0] != '\0')
        written = snprintf(path, size, "%s/.config/edgefetch/config", home);
    else
        return -ENOENT;
    return written > 0 && (size_t)written < size ? 0 : -ENAMETOOLONG;
}

static int line_error(const char *path, unsigned line, const char *fmt, const char *arg)
{
    struct cli_setting where = {.file = path, .line = line};
    char message[512];
    snprintf(message, sizeof(message), fmt, arg);
    return cli_usage_error(&where, "%s", message);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* A double-quoted value starting at `p` (after the quote), unescaped in
 * place; *end gets what follows the closing quote. NULL when unterminated
 * or with an unknown escape. */
static char *unquote(char *p, char **end)
{
    char *out = p;
    char *start = p;
    while (*p != '"') {
        if (*p == '\0')
            return NULL;
        if (*p == '\\') {
            p++;
            switch (*p) {
            case '\\':
            case '"':
                *out++ = *p;
                break;
            case 't':
                *out++ = '\t';
                break;
            case 'n':
                *out++ = '\n';
                break;
            default:
                return NULL;
            }
            p++;
            continue;
        }
        *out++ = *p++;
    }
    *end = p + 1;
    *out = '\0';
    return start;
}

/* One line, NUL-terminated, into a setting (or nothing for a blank or a
 * comment). */
static int parse_line(const char *path, unsigned number, char *line, struct cli_settings *out)
{
    while (is_blank(*line))
        line++;
    size_t length = strlen(line);
    while (length > 0 && (is_blank(line[length - 1]) || line[length - 1] == '\r'))
        line[--length] = '\0';
    if (line[0] == '\0' || line[0] == '#')
        return 0;
    char *name = line;
    if (name[0] == '-' && name[1] == '-')
        name += 2;
    else if (name[0] == '-')
        return line_error(path, number, "'%s': write options by their long name", line);
    char *p = name;
    while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')
        p++;
    size_t name_length = (size_t)(p - name);
    if (name_length == 0 || (*p != '\0' && !is_blank(*p) && *p != '=' && *p != ':'))
        return line_error(path, number, "'%s' is not 'name value'", line);
    char saved = *p;
    *p = '\0';
    const struct opt_spec *opt = options_find_long(name, name_length);
    if (opt == NULL) {
        const char *near = options_suggest(name, name_length);
        char message[256];
        if (near != NULL)
            snprintf(message, sizeof(message), "unknown option '%%s' (did you mean %s?)", near);
        else
            snprintf(message, sizeof(message), "unknown option '%%s'");
        return line_error(path, number, message, name);
    }
    if (opt->id == OPT_CONFIG || opt->id == OPT_NO_CONFIG || opt->id == OPT_HELP ||
        opt->id == OPT_VERSION)
        return line_error(path, number, "'%s' belongs on the command line, not in a config file",
                          name);
    *p = saved;
    while (is_blank(*p))
        p++;
    if (*p == '=' || *p == ':') {
        p++;
        while (is_blank(*p))
            p++;
    }
    char *value = NULL;
    if (*p == '"') {
        char *after;
        value = unquote(p + 1, &after);
        if (value == NULL)
            return line_error(path, number, "%s: unterminated quote or unknown escape", name);
        while (is_blank(*after))
            after++;
        if (*after != '\0')
            return line_error(path, number, "%s: text after the closing quote", name);
    } else if (*p != '\0') {
        value = p;
    }
    if (opt->arg == NULL && value != NULL)
        return line_error(path, number, "option '%s' takes no value", name);
    if (opt->arg != NULL && value == NULL)
        return line_error(path, number, "option '%s' needs a value", name);
    struct cli_setting setting = {.opt = opt, .value = value, .file = path, .line = number};
    return cli_settings_add(out, &setting);
}

int config_read(const char *path, bool missing_ok, struct cli_settings *settings)
{
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        int error = errno;
        if (error == ENOENT && missing_ok)
            return 0;
        fprintf(stderr, "edgefetch: cannot read config file %s: %s\n", path, strerror(error));
        return error == ENOENT ? -ENOENT : -EINVAL;
    }
    char *text = malloc(CONFIG_MAX_BYTES + 1);
    if (text == NULL) {
        fclose(file);
        return -ENOMEM;
    }
    size_t size = fread(text, 1, CONFIG_MAX_BYTES + 1, file);
    bool failed = ferror(file) != 0;
    fclose(file);
    if (failed || size > CONFIG_MAX_BYTES || memchr(text, '\0', size) != NULL) {
        fprintf(stderr, "edgefetch: config file %s: %s\n", path,
                failed                    ? "read error"
                : size > CONFIG_MAX_BYTES ? "larger than 1 MiB"
                                          : "a NUL byte");
        free(text);
        return -EINVAL;
    }
    text[size] = '\0';
    int rc = cli_settings_keep(settings, text);
    if (rc < 0)
        return rc;
    unsigned number = 0;
    char *line = text;
    while (line != NULL && *line != '\0') {
        char *newline = strchr(line, '\n');
        if (newline != NULL)
            *newline = '\0';
        number++;
        rc = parse_line(path, number, line, settings);
        if (rc < 0)
            return rc == -ENOMEM ? rc : -EINVAL;
        line = newline != NULL ? newline + 1 : NULL;
    }
    return 0;
}
