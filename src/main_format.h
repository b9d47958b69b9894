/* The storage subcommands of the skein executable. */
#ifndef SKEIN_MAIN_FORMAT_H
#define SKEIN_MAIN_FORMAT_H

/* `skein format ...` (argv[0] is "format"); returns the exit code. */
int sk_main_format(int argc, char **argv);

/* `skein random-uuid`: prints a new cluster id; returns the exit code. */
int sk_main_random_uuid(int argc, char **argv);

#endif
