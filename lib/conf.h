/* INI configuration through iniparser, with precise error messages. */
#ifndef DP_CONF_H
#define DP_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct conf;

struct conf *conf_load(const char *path, char **cause);
void conf_free(struct conf *);
struct _dictionary_;
struct _dictionary_ *conf_dict(const struct conf *);
struct _dictionary_ *conf_parse_file(const char *path, const char *shown,
    char *msg, size_t len);
int conf_check_keys(const struct conf *, const char *const *known,
    char **cause);
const char *conf_str(const struct conf *, const char *key, const char *def);
const char *conf_path(const struct conf *);
int conf_path_key(const struct conf *, const char *key, char **out,
    char **cause);
int conf_duration(const struct conf *, const char *key, int def_ms, int *ms,
    char **cause);
int conf_size(const struct conf *, const char *key, uint64_t def, uint64_t min,
    uint64_t max, uint64_t *out, char **cause);
int conf_count(const struct conf *, const char *key, unsigned def, unsigned min,
    unsigned max, unsigned *out, char **cause);
int conf_bool(const struct conf *, const char *key, int def, int *out,
    char **cause);
int conf_error(char **cause, const struct conf *, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

void conf_dump(const struct conf *, FILE *);
char *conf_dump_text(const struct conf *);

int conf_parse_duration(const char *, int *ms);
int conf_parse_size(const char *, uint64_t *);

#endif
