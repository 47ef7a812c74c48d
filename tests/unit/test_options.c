/* The option table (cmd/options.c): every entry present and in its place,
 * names and short names unique, lookup by whole names only, suggestions,
 * and defaults printed from pl_options_init. */
#include <string.h>

#include "check.h"
#include "options.h"

static void test_table_complete(void)
{
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const struct opt_spec *o = &options_table[i];
        /* A missing designated entry would be all zeros. */
        CHECK(o->name != NULL && o->help != NULL && o->help[0] != '\0');
        CHECK_EQ(o->id, i);
        CHECK_EQ(o->arg == NULL, o->value == OPT_VALUE_NONE);
        CHECK(o->value != OPT_VALUE_CHOICE || o->choices != NULL);
        for (size_t j = i + 1; j < OPT_COUNT; j++) {
            CHECK(strcmp(o->name, options_table[j].name) != 0);
            CHECK(o->short_name == 0 || o->short_name != options_table[j].short_name);
        }
    }
}

static void test_whole_names(void)
{
    CHECK(options_find_long("user", 4)->id == OPT_USER);
    CHECK(options_find_long("user-agent", 10)->id == OPT_USER_AGENT);
    CHECK(options_find_long("out", 3) == NULL);
    CHECK(options_find_long("comp", 4) == NULL);
    CHECK(options_find_long("outputs", 7) == NULL);
    /* `length` bytes of `name`: "--json=1" is looked up as "json". */
    CHECK(options_find_long("json=1", 4)->id == OPT_JSON);
    CHECK(options_find_short('k')->id == OPT_INSECURE);
    CHECK(options_find_short('x')->id == OPT_PROXY);
    CHECK(options_find_short('Z') == NULL);
}

static void test_suggestions(void)
{
    CHECK_STR_EQ(options_suggest("out", 3), "output");
    CHECK_STR_EQ(options_suggest("max-download", 12), "max-downloads");
    CHECK_STR_EQ(options_suggest("max-dowloads", 12), "max-downloads");
    CHECK_STR_EQ(options_suggest("retires", 7), "retries");
    CHECK_STR_EQ(options_suggest("jsno", 4), "json");
    CHECK(options_suggest("frobnicate", 10) == NULL);
    CHECK(options_suggest("", 0) == NULL);
}

static void test_defaults_from_pipeline(void)
{
    struct pl_options d;
    char text[128];
    pl_options_init(&d);
    options_default_text(OPT_MAX_DOWNLOADS, &d, text, sizeof(text));
    CHECK_STR_EQ(text, "32");
    options_default_text(OPT_MAX_PER_HOST, &d, text, sizeof(text));
    CHECK_STR_EQ(text, "4");
    options_default_text(OPT_CONNECT_TIMEOUT, &d, text, sizeof(text));
    CHECK_STR_EQ(text, "5");
    options_default_text(OPT_MAX_SIZE, &d, text, sizeof(text));
    CHECK_STR_EQ(text, "64M");
    options_default_text(OPT_MAX_PIXELS, &d, text, sizeof(text));
    CHECK_STR_EQ(text, "100M");
    options_default_text(OPT_RETRY_DELAY, &d, text, sizeof(text));
    CHECK_STR_EQ(text, "0.5");
    /* Changed in the options, changed in the text: nothing is copied. */
    d.max_downloads = 9;
    d.http.max_body = 3 * 1024;
    d.op = IMG_OP_CANNY;
    options_default_text(OPT_MAX_DOWNLOADS, &d, text, sizeof(text));
    CHECK_STR_EQ(text, "9");
    options_default_text(OPT_MAX_SIZE, &d, text, sizeof(text));
    CHECK_STR_EQ(text, "3k");
    options_default_text(OPT_OPERATOR, &d, text, sizeof(text));
    CHECK_STR_EQ(text, "canny");
    options_default_text(OPT_JSON, &d, text, sizeof(text));
    CHECK_STR_EQ(text, "");
}

int main(void)
{
    test_table_complete();
    test_whole_names();
    test_suggestions();
    test_defaults_from_pipeline();
    printf("options: all passed\n");
    return 0;
}
