/* Application rules: which announcements to find in which streams. */
#ifndef DP_RULE_H
#define DP_RULE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum rule_dir {
	RULE_C2S = 0, /* client to server */
	RULE_S2C = 1  /* server to client */
};

enum rule_action {
	RULE_SERVER_CONNECTS = 0, /* reverse: PORT, EPRT, DCC, rsh stderr */
	RULE_CLIENT_CONNECTS = 1, /* forward: 227, 229 */
	RULE_REFUSE = 2           /* what detect finds is refused: AUTH TLS */
};

struct ruleset;   /* all loaded applications */
struct rule_app;  /* one rule file */
struct rule_kind; /* one kind of announcement (a section) */

struct ruleset *ruleset_new(void);
int ruleset_load_dir(struct ruleset *, const char *dir, char **cause);
int ruleset_load_file(struct ruleset *, const char *path, char **cause);
int ruleset_load_text(struct ruleset *, const char *name, const char *text,
    size_t len, char **cause);
void ruleset_free(struct ruleset *);
size_t ruleset_count(const struct ruleset *);
const struct rule_app *ruleset_app(const struct ruleset *, size_t i);
const struct rule_app *ruleset_for_port(const struct ruleset *,
    uint16_t server_port);
int ruleset_run_vectors(const struct ruleset *, char **cause);

/* One vector's outcome: failure is NULL when it passed. */
typedef void (*ruleset_vector_cb)(const struct rule_app *,
    const struct rule_kind *, const char *id, const char *failure, void *);
size_t ruleset_report_vectors(const struct ruleset *, ruleset_vector_cb,
    void *);
size_t ruleset_vector_count(const struct ruleset *);

void rule_app_hold(const struct rule_app *);
void rule_app_release(const struct rule_app *);
const char *rule_app_name(const struct rule_app *);
const char *rule_app_file(const struct rule_app *);
const char *rule_app_text(const struct rule_app *, size_t *len);
int rule_app_scans(const struct rule_app *, enum rule_dir);
int rule_app_has_port(const struct rule_app *, uint16_t);
size_t rule_app_kind_count(const struct rule_app *);
const struct rule_kind *rule_app_kind(const struct rule_app *, size_t i);

/* Who may connect to a reverse opening ([kind] accept). */
#define RULE_ACCEPT_SERVER 0x1 /* the control connection's server */
#define RULE_ACCEPT_INSIDE 0x2 /* any address the user may reach */

const char *rule_kind_name(const struct rule_kind *);
enum rule_action rule_kind_action(const struct rule_kind *);
int rule_kind_implied(const struct rule_kind *);
int rule_kind_other_hosts(const struct rule_kind *);
int rule_kind_accept(const struct rule_kind *);

#endif
