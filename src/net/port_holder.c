/* Who holds a listening port: a live process, or nobody any more.
 *
 * A listener a killed broker armed with io_uring outlives the process by a
 * few milliseconds (the ring is torn down after exit, off the process), so
 * the restart that follows kill -9 at once meets EADDRINUSE from a socket no
 * process owns. Such a bind is retried; one that another live process holds
 * (a second broker, Kafka, anything) fails at once, as Kafka's does. A socket
 * of this process's own is one it is closing (tests), so it is waited for. The owner is
 * found as `ss -lp` finds it: the port's LISTEN sockets in /proc/net/tcp{,6},
 * then a /proc/<pid>/fd link to one of their inodes. */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net-int.h"

#define MAX_INODES 16

static int listen_inodes(const char *table, uint16_t port, unsigned long *ino, int n)
{
	FILE *f = fopen(table, "r");
	if (!f)
		return n;
	char line[512];
	unsigned lport, state;
	unsigned long inode;
	while (fgets(line, sizeof line, f) && n < MAX_INODES) {
		/* sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*s %*s %*s %*u %*u %lu",
				   &lport, &state, &inode) == 3 &&
			lport == port && state == 0x0A && inode != 0)
			ino[n++] = inode;
	}
	fclose(f);
	return n;
}

static bool fd_dir_holds(const char *pid, const unsigned long *ino, int n)
{
	char path[300], link[64], want[40];
	snprintf(path, sizeof path, "/proc/%s/fd", pid);
	DIR *d = opendir(path);
	if (!d)
		return false;
	bool found = false;
	for (struct dirent *e; !found && (e = readdir(d));) {
		char p[600];
		snprintf(p, sizeof p, "%s/%s", path, e->d_name);
		ssize_t len = readlink(p, link, sizeof link - 1);
		if (len <= 0)
			continue;
		link[len] = 0;
		for (int i = 0; i < n && !found; i++) {
			snprintf(want, sizeof want, "socket:[%lu]", ino[i]);
			found = strcmp(link, want) == 0;
		}
	}
	closedir(d);
	return found;
}

bool sk_port_held_by_other_process(uint16_t port)
{
	unsigned long ino[MAX_INODES];
	int n = listen_inodes("/proc/net/tcp", port, ino, 0);
	n = listen_inodes("/proc/net/tcp6", port, ino, n);
	if (n == 0)
		return false;
	char self[24];
	snprintf(self, sizeof self, "%d", (int)getpid());
	DIR *d = opendir("/proc");
	if (!d)
		return true; /* cannot tell: assume it is held */
	bool held = false;
	for (struct dirent *e; !held && (e = readdir(d));)
		if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && strcmp(e->d_name, self) != 0)
			held = fd_dir_holds(e->d_name, ino, n);
	closedir(d);
	return held;
}
