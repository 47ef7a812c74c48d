/* Unit tests for names given by a list's name column (io/names.c,
 * io_named_output_name, issue 13): reduced like a URL's last segment but not
 * percent-decoded, the extension replaced, a value of only dots falling back
 * to the URL's name, the levels' hashes the URL's; a table where two URLs are
 * given one name moves both up a level. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "io.h"

static void check_name(const char *url, const char *given, unsigned level, const char *want)
{
    char name[IO_OUTPUT_NAME_SIZE];
    CHECK_EQ(io_named_output_name(url, given, level, name, sizeof(name)), 0);
    CHECK_STR_EQ(name, want);
}

int main(void)
{
    const char *url = "http://h/dir/photo%20one.jpg";
    check_name(url, NULL, 0, "photo_one.png");
    check_name(url, "My Cat.jpg", 0, "My_Cat.png");
    check_name(url, "50%25 off", 0, "50_25_off.png"); /* a value is not URL text */
    check_name(url, "../../etc/passwd", 0, "_.._etc_passwd.png");
    check_name(url, "...", 0, "photo_one.png");
    check_name(url, ".hidden", 0, "hidden.png");
    char want[64];
    snprintf(want, sizeof(want), "My_Cat-%08x.png", io_url_hash(url));
    check_name(url, "My Cat", 1, want);

    /* Two URLs given one name clash; a third given none keeps its own. */
    const char *urls[] = {"http://h/a.jpg", "http://h/b.jpg", "http://h/c.jpg"};
    const char *givens[] = {"same", "same", NULL};
    uint8_t levels[3];
    struct io_name_table *table;
    CHECK_EQ(io_name_table_create_named(urls, givens, 3, levels, &table), 0);
    CHECK_EQ(levels[0], IO_NAME_HASH32);
    CHECK_EQ(levels[1], IO_NAME_HASH32);
    CHECK_EQ(levels[2], IO_NAME_DERIVED);
    CHECK(io_name_table_taken(table, "c.png"));
    io_name_table_destroy(table);
    return 0;
}
