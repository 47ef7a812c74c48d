/* Private to io/: the bound the list readers share (io/listread.c, and
 * io/urllist.c's whole-list reader built on it). */
#ifndef EDGEFETCH_IO_LISTREAD_PRIVATE_H
#define EDGEFETCH_IO_LISTREAD_PRIVATE_H

/* A list line longer than this is not a URL someone meant: it fails as a row
 * of its own, and only this much of it is ever held. */
#define MAX_LINE_BYTES (64 * 1024)
#define IO_LIST_MAX_LINE_TEXT "65536"

_Static_assert(MAX_LINE_BYTES == 65536, "IO_LIST_MAX_LINE_TEXT spells MAX_LINE_BYTES");

#endif
