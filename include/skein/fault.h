/* Fault injection for tests/faults/: lets the fault harness fail the syncs
 * that the broker submits through io_uring, which an LD_PRELOAD shim cannot
 * see. Off unless SKEIN_FAULT_CTL is set in the environment at start-up. */
#ifndef SKEIN_FAULT_H
#define SKEIN_FAULT_H

#include <stdbool.h>

/* 0, or -EIO when the control file named by SKEIN_FAULT_CTL holds the word
 * "fsync" and fd is a file under SKEIN_FAULT_DIR (any file if unset).
 * Otherwise journals the file's size to SKEIN_FAULT_SYNCLOG if that is set.
 * Called as each sync is submitted. */
int sk_fault_sync(int fd);

/* True when the control file holds "hold-snapshot" and fd is a producer
 * snapshot's temporary file: the shard's syncer then leaves that sync in
 * flight for good (never submitted, never completed), so a test can kill -9
 * the broker while a snapshot is being made durable. */
bool sk_fault_hold_sync(int fd);

#endif
