/* edgefetch-options: prints the option table, one option per line, tab
 * separated: long name, short name ("" when none), argument, value kind,
 * default (from pl_options_init), help. Not installed: the tests compare
 * the man page, the completion and the README against it. */
#include <stdio.h>

#include "options.h"

int main(void)
{
    static const char *const kinds[] = {"none", "file", "list", "dir", "choice", "other"};
    struct pl_options defaults;
    char value[128];

    pl_options_init(&defaults);
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const struct opt_spec *o = &options_table[i];
        options_default_text(o->id, &defaults, value, sizeof(value));
        printf("%s\t%s%c\t%s\t%s\t%s\t%s\t%s\n", o->name, o->short_name ? "-" : "",
               o->short_name ? o->short_name : ' ', o->arg ? o->arg : "", kinds[o->value], value,
               o->choices ? o->choices : "", o->help);
    }
    return 0;
}
