/* skein format / skein random-uuid: Kafka's kafka-storage format and
 * random-uuid, with Skein's way of naming a config (a path and --override,
 * as the broker takes them) and Kafka's (--config/-c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "main_format.h"
#include "skein/config.h"
#include "skein/format.h"
#include "skein/uuid.h"

struct format_args {
    struct sk_format_opts opts;
    const char *path;
    const char **overrides;
    int n_overrides;
};

/* The value of an option given as "--name value", "--name=value" or "-x
 * value"; NULL when argv[*i] is not that option. */
static const char *value_of(int argc, char **argv, int *i, const char *name, const char *alias,
                            bool *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) == 0 && a[n] == '=')
        return a + n + 1;
    if (strcmp(a, name) != 0 && strcmp(a, alias) != 0)
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

static bool flag(const char *a, const char *name, const char *alias)
{
    return strcmp(a, name) == 0 || strcmp(a, alias) == 0;
}

static int one_arg(int argc, char **argv, int *i, struct format_args *f)
{
    bool missing = false;
    const char *a = argv[*i], *v;
    if ((v = value_of(argc, argv, i, "--cluster-id", "-t", &missing)))
        f->opts.cluster_id = v;
    else if (!missing && (v = value_of(argc, argv, i, "--config", "-c", &missing)))
        f->path = v;
    else if (!missing && (v = value_of(argc, argv, i, "--override", "--override", &missing)))
        f->overrides[f->n_overrides++] = v;
    else if (!missing && (v = value_of(argc, argv, i, "--initial-controllers", "-I", &missing)))
        f->opts.initial_controllers = v;
    else if (!missing && (v = value_of(argc, argv, i, "--release-version", "-r", &missing)))
        f->opts.release_version = v;
    else if (!missing && flag(a, "--standalone", "-s"))
        f->opts.standalone = true;
    else if (!missing && flag(a, "--no-initial-controllers", "-N"))
        f->opts.no_initial_controllers = true;
    else if (!missing && flag(a, "--ignore-formatted", "-g"))
        f->opts.ignore_formatted = true;
    else if (!missing && a[0] != '-' && !f->path)
        f->path = a;
    else {
        fprintf(stderr, missing ? "skein format: %s needs a value\n"
                                : "skein format: unrecognized argument %s\n", a);
        return -1;
    }
    return 0;
}

static int run(struct format_args *f)
{
    struct sk_config cfg;
    char err[2048];
    int rc = sk_config_load(&cfg, f->path, f->overrides, f->n_overrides, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "invalid configuration: %s\n", err);
        return 1;
    }
    rc = sk_format_run(&cfg, &f->opts, stdout, err, sizeof err);
    sk_config_free(&cfg);
    if (rc < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    return 0;
}

int sk_main_format(int argc, char **argv)
{
    struct format_args f = {.overrides = calloc((size_t)argc, sizeof(char *))};
    if (!f.overrides)
        return 1;
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++)
        rc = one_arg(argc, argv, &i, &f);
    rc = rc < 0 ? 2 : run(&f);
    free(f.overrides);
    return rc;
}

int sk_main_random_uuid(int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "skein random-uuid: unrecognized argument %s\n", argv[1]);
        return 2;
    }
    uint8_t id[16];
    char text[SK_UUID_STR_LEN + 1];
    sk_uuid_random(id);
    sk_uuid_format(id, text);
    printf("%s\n", text);
    return 0;
}
