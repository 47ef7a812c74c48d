/* Text from the list and from servers, made safe for a terminal or a log. */
#ifndef EDGEFETCH_CMD_PRINTABLE_H
#define EDGEFETCH_CMD_PRINTABLE_H

#include <stdio.h>

/* Writes `s` with every byte a terminal could take for a control shown as
 * \xNN: C0 controls and DEL; C1 controls (U+0080-U+009F: CSI, OSC...) in
 * their UTF-8 form, byte by byte (\xc2\x9b); and every byte that is not part
 * of valid UTF-8, since a terminal in an 8-bit mode reads a raw 0x9b as CSI.
 * Valid UTF-8 otherwise passes through. */
void printable_write(FILE *out, const char *s);

#endif
