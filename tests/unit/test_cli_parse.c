/* What the command line gives the run, where no run can show it (cmd/args.c's
 * cli_parse, compiled in): the k/M/G of --rate-limit and --low-speed-limit
 * (powers of 1024, as --help says; a rate is seen only by the clock),
 * --low-speed-time's "30 with --low-speed-limit", --compare's -j 4 unless
 * -j is given, and an explicit -j kept fixed. */
#include <string.h>

#include "check.h"
#include "cli.h"

/* cli_parse over `args` (NULL-terminated), the user's config files left out. */
static int parse(struct cli *cli, const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"edgefetch";
    argv[argc++] = (char *)"--no-config";
    for (; *args != NULL && argc < 31; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    return cli_parse(argc, argv, cli);
}

static void test_units(void)
{
    struct cli cli;
    CHECK_EQ(parse(&cli, (const char *const[]){"--rate-limit", "1k", "--low-speed-limit", "1M",
                                               "--max-size", "1k", "--max-pixels", "1k", NULL}),
             0);
    CHECK_EQ(cli.pl.http.rate_limit, 1024);
    CHECK_EQ(cli.pl.http.low_speed_limit, 1024 * 1024);
    CHECK_EQ(cli.pl.http.max_body, 1024);
    CHECK_EQ(cli.pl.max_pixels, 1000);
    cli_finish(&cli);
}

static void test_low_speed_window(void)
{
    struct cli cli;
    CHECK_EQ(parse(&cli, (const char *const[]){NULL}), 0);
    CHECK_EQ(cli.pl.http.low_speed_limit, 0);
    CHECK_EQ(cli.pl.http.low_speed_time_s, 0);
    cli_finish(&cli);
    CHECK_EQ(parse(&cli, (const char *const[]){"--low-speed-limit", "100", NULL}), 0);
    CHECK_EQ(cli.pl.http.low_speed_time_s, 30);
    cli_finish(&cli);
    CHECK_EQ(parse(&cli, (const char *const[]){"--low-speed-time", "7", "--low-speed-limit", "100",
                                               NULL}),
             0);
    CHECK_EQ(cli.pl.http.low_speed_time_s, 7);
    cli_finish(&cli);
}

static void test_caps(void)
{
    struct cli cli;
    CHECK_EQ(parse(&cli, (const char *const[]){NULL}), 0);
    CHECK_EQ(cli.pl.max_downloads, 32);
    CHECK_EQ(cli.pl.cap_mode, PL_CAP_ADAPTIVE);
    cli_finish(&cli);
    CHECK_EQ(parse(&cli, (const char *const[]){"--compare", NULL}), 0);
    CHECK_EQ(cli.pl.max_downloads, PL_LESSON_DOWNLOADS);
    CHECK_EQ(PL_LESSON_DOWNLOADS, 4);
    CHECK_EQ(cli.pl.cap_mode, PL_CAP_FIXED);
    cli_finish(&cli);
    CHECK_EQ(parse(&cli, (const char *const[]){"--compare", "-j", "6", NULL}), 0);
    CHECK_EQ(cli.pl.max_downloads, 6);
    cli_finish(&cli);
    CHECK_EQ(parse(&cli, (const char *const[]){"-j", "32", NULL}), 0);
    CHECK_EQ(cli.pl.cap_mode, PL_CAP_FIXED);
    cli_finish(&cli);
}

int main(void)
{
    test_units();
    test_low_speed_window();
    test_caps();
    printf("cli_parse: all passed\n");
    return 0;
}
