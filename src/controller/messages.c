/* Kafka's default error messages (Errors.java), for answers that carry an
 * error without a more specific text. */
#include "skein/controller.h"
#include "skein/errors.h"

const char *sk_err_message(int16_t code)
{
    switch (code) {
    case SK_ERR_UNKNOWN_TOPIC_OR_PARTITION: return "This server does not host this topic-partition.";
    case SK_ERR_UNKNOWN_TOPIC_ID: return "This server does not host this topic ID.";
    case SK_ERR_TOPIC_DELETION_DISABLED: return "Topic deletion is disabled.";
    case SK_ERR_ELECTION_NOT_NEEDED: return "Leader election not needed for topic partition.";
    case SK_ERR_NO_REASSIGNMENT_IN_PROGRESS: return "No partition reassignment is in progress.";
    case SK_ERR_INVALID_REQUEST:
        return "This most likely occurs because of a request being malformed by the client "
               "library or the message was sent to an incompatible broker. See the broker logs "
               "for more details.";
    default: return NULL;
    }
}
