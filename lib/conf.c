/* INI configuration through iniparser, with precise error messages. */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <iniparser.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "xmalloc.h"

/* The defaults the program used for keys the file leaves out (for -T). */
struct conf_defaults {
	char **cd_key;
	char **cd_val;
	size_t cd_n;
};

struct conf {
	dictionary *c_dict;
	char *c_path;
	char *c_dir; /* relative paths in the file are taken from here */
	struct conf_defaults *c_defs;
};

static char conf_syntax[512];

/* Collect iniparser's own syntax messages instead of printing them. */
static int
conf_errback(const char *fmt, ...)
{
	va_list ap;
	size_t n = strlen(conf_syntax);

	if (n >= sizeof conf_syntax - 1)
		return 0;
	va_start(ap, fmt);
	vsnprintf(conf_syntax + n, sizeof conf_syntax - n, fmt, ap);
	va_end(ap);
	return 0;
}

/* Format "FILE: [section] key: problem" into *cause; always returns -1. */
int
conf_error(char **cause, const struct conf *c, const char *key, const char *fmt,
    ...)
{
	va_list ap;
	char *msg, sec[128];
	const char *colon;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (key != NULL && (colon = strchr(key, ':')) != NULL) {
		snprintf(sec, sizeof sec, "%.*s", (int)(colon - key), key);
		xasprintf(cause, "%s: [%s] %s: %s", c->c_path, sec, colon + 1,
		    msg ? msg : "error");
	} else if (key != NULL)
		xasprintf(cause, "%s: [%s]: %s", c->c_path, key,
		    msg ? msg : "error");
	else
		xasprintf(cause, "%s: %s", c->c_path, msg ? msg : "error");
	free(msg);
	return -1;
}

/*
 * iniparser_load with its syntax messages captured: returns the
 * dictionary, or NULL with the message in msg (one line, naming the file
 * as shown instead of path, e.g. a rule file loaded from a temporary copy).
 */
dictionary *
conf_parse_file(const char *path, const char *shown, char *msg, size_t len)
{
	dictionary *d;
	char *nl, *fixed;

	conf_syntax[0] = '\0';
	iniparser_set_error_callback(conf_errback);
	d = iniparser_load(path);
	iniparser_set_error_callback(NULL);
	if (d != NULL && conf_syntax[0] == '\0')
		return d;
	if (d != NULL)
		iniparser_freedict(d);
	while ((nl = strrchr(conf_syntax, '\n')) != NULL && nl[1] == '\0')
		*nl = '\0';
	for (nl = conf_syntax; (nl = strchr(nl, '\n')) != NULL;)
		*nl = ' ';
	if (strcmp(path, shown) != 0 &&
	    (nl = strstr(conf_syntax, path)) != NULL) {
		xasprintf(&fixed, "%.*s%s%s", (int)(nl - conf_syntax),
		    conf_syntax, shown, nl + strlen(path));
		snprintf(msg, len, "%s", fixed);
		free(fixed);
	} else
		snprintf(msg, len, "%s",
		    conf_syntax[0] ? conf_syntax : "syntax error");
	return NULL;
}

/* A name in the file, trimmed, folded to lower case as iniparser does. */
static void
conf_fold(char *out, size_t len, const char *p, size_t n)
{
	size_t i;

	while (n > 0 && isspace((unsigned char)*p)) {
		p++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)p[n - 1]))
		n--;
	if (n >= len)
		n = len - 1;
	for (i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)p[i]);
	out[n] = '\0';
}

/*
 * Where an unquoted value would be cut by a comment character that does
 * not follow a space ("p#ss" in a password), or NULL. A comment after a
 * space ("value ; note") is meant as one.
 */
static char *
conf_cut(char *v)
{
	char *p;

	v += strspn(v, " \t");
	if (*v == '"' || *v == '\'')
		return NULL;
	for (p = v; *p != '\0' && *p != '\n'; p++) {
		if (*p != ';' && *p != '#')
			continue;
		if (p == v || p[-1] == ' ' || p[-1] == '\t')
			return NULL; /* a comment: the rest is its text */
		return p;
	}
	return NULL;
}

/*
 * What iniparser takes in silence: a key set twice in a section (the last
 * would win), a key before any [section] (it would be ignored), a value
 * a comment character would cut short, and a user, group or isp name in
 * capitals (it folds them, so that name could never match). 0, or -1
 * with *cause.
 */
static int
conf_scan(const char *path, FILE *f, char **cause)
{
	char line[4096], sec[256] = "", key[256], name[520], *eq, *end, *p;
	struct seen {
		char s_name[520];
		int s_line;
	} *seen = NULL;
	size_t nseen = 0, i, len;
	int n = 0, rc = 0, cont = 0, was_cont;

	while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
		n++;
		/* A line after one ending in a backslash continues its value. */
		was_cont = cont;
		len = strcspn(line, "\r\n");
		while (
		    len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
			len--;
		cont = len > 0 && line[len - 1] == '\\';
		if (was_cont)
			continue;
		p = line + strspn(line, " \t");
		if (*p == ';' || *p == '#' || *p == '\n' || *p == '\0')
			continue;
		if (*p == '[' && (end = strchr(p, ']')) != NULL) {
			conf_fold(sec, sizeof sec, p + 1,
			    (size_t)(end - p - 1));
			if ((strncmp(sec, "user ", 5) == 0 ||
				strncmp(sec, "group ", 6) == 0 ||
				strncmp(sec, "isp ", 4) == 0) &&
			    strpbrk(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != NULL &&
			    strpbrk(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") < end) {
				xasprintf(cause,
				    "%s: line %d: [%.*s]: names are lower case "
				    "(the file format folds them, so this one "
				    "could never match); write [%s]",
				    path, n, (int)(end - p - 1), p + 1, sec);
				rc = -1;
			}
			continue;
		}
		if (*p == '[') {
			/* A broken header: iniparser says what is wrong. */
			snprintf(sec, sizeof sec, "?");
			continue;
		}
		if ((eq = strchr(p, '=')) == NULL)
			continue;
		conf_fold(key, sizeof key, p, (size_t)(eq - p));
		if (sec[0] == '\0') {
			xasprintf(cause,
			    "%s: line %d: %s: before any [section], where it "
			    "would be ignored: move it into its section",
			    path, n, key);
			rc = -1;
			break;
		}
		if ((end = conf_cut(eq + 1)) != NULL) {
			xasprintf(cause,
			    "%s: [%s] %s: '%c' right after other text starts a "
			    "comment and cuts the value short; put the whole "
			    "value in double quotes",
			    path, sec, key, *end);
			rc = -1;
			break;
		}
		snprintf(name, sizeof name, "%s:%s", sec, key);
		for (i = 0; i < nseen; i++)
			if (strcmp(seen[i].s_name, name) == 0)
				break;
		if (i < nseen) {
			xasprintf(cause,
			    "%s: [%s] %s: set twice (lines %d and %d); the "
			    "last would win: keep one",
			    path, sec, key, seen[i].s_line, n);
			rc = -1;
			break;
		}
		seen = xrealloc(seen, (nseen + 1) * sizeof *seen);
		memcpy(seen[nseen].s_name, name, sizeof name);
		seen[nseen++].s_line = n;
	}
	free(seen);
	return rc;
}

/* The file it was loaded from. */
const char *
conf_path(const struct conf *c)
{
	return c->c_path;
}

/* Load a file; on failure *cause names the file and the problem. */
struct conf *
conf_load(const char *path, char **cause)
{
	struct conf *c;
	struct stat st;
	dictionary *d;
	FILE *f;
	const char *slash;
	char msg[512];

	if ((f = fopen(path, "r")) == NULL) {
		xasprintf(cause, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		xasprintf(cause, "%s: is a directory, not a configuration file",
		    path);
		return NULL;
	}
	if (conf_scan(path, f, cause) != 0) {
		fclose(f);
		return NULL;
	}
	fclose(f);
	if ((d = conf_parse_file(path, path, msg, sizeof msg)) == NULL) {
		xasprintf(cause, "%s: cannot parse: %s", path, msg);
		return NULL;
	}
	c = xcalloc(1, sizeof *c);
	c->c_defs = xcalloc(1, sizeof *c->c_defs);
	c->c_dict = d;
	c->c_path = xstrdup(path);
	if ((slash = strrchr(path, '/')) != NULL)
		c->c_dir = xstrndup(path, (size_t)(slash - path));
	else
		c->c_dir = xstrdup(".");
	return c;
}

/* Free a loaded file. */
void
conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	iniparser_freedict(c->c_dict);
	while (c->c_defs->cd_n > 0) {
		c->c_defs->cd_n--;
		free(c->c_defs->cd_key[c->c_defs->cd_n]);
		free(c->c_defs->cd_val[c->c_defs->cd_n]);
	}
	free(c->c_defs->cd_key);
	free(c->c_defs->cd_val);
	free(c->c_defs);
	free(c->c_path);
	free(c->c_dir);
	free(c);
}

/* The underlying iniparser dictionary, for walking sections. */
dictionary *
conf_dict(const struct conf *c)
{
	return c->c_dict;
}

/* Match "prefix *" or "prefix *:key" against "prefix NAME[:key]". */
static int
conf_known_wild(const char *known, const char *what)
{
	const char *star = strstr(known, " *"), *colon;
	size_t pre;

	if (star == NULL)
		return 0;
	pre = (size_t)(star - known) + 1;
	if (strncmp(known, what, pre) != 0 || what[pre] == '\0')
		return 0;
	colon = strchr(what + pre, ':');
	if (colon == NULL) /* a section: any key of the pattern will do */
		return 1;
	return strcmp(star + 2, colon) == 0;
}

/* Is "sec" or "sec:key" in the known list? */
static int
conf_known(const char *const *known, const char *what)
{
	size_t n;

	for (; *known != NULL; known++) {
		if (strcmp(*known, what) == 0)
			return 1;
		/* "user *:password" covers "user alice:password". */
		if (conf_known_wild(*known, what))
			return 1;
		n = strlen(what);
		if (strchr(what, ':') == NULL &&
		    strncmp(*known, what, n) == 0 && (*known)[n] == ':')
			return 1;
	}
	return 0;
}

/* Refuse sections and keys that are not in the known list (typos). */
int
conf_check_keys(const struct conf *c, const char *const *known, char **cause)
{
	int ns, nk, i, j;
	const char *sec, **keys;

	ns = iniparser_getnsec(c->c_dict);
	for (i = 0; i < ns; i++) {
		sec = iniparser_getsecname(c->c_dict, i);
		if (!conf_known(known, sec))
			return conf_error(cause, c, sec, "unknown section");
		nk = iniparser_getsecnkeys(c->c_dict, sec);
		if (nk <= 0)
			continue;
		keys = xcalloc((size_t)nk, sizeof *keys);
		iniparser_getseckeys(c->c_dict, sec, keys);
		for (j = 0; j < nk; j++) {
			if (!conf_known(known, keys[j])) {
				conf_error(cause, c, keys[j], "unknown key");
				free(keys);
				return -1;
			}
		}
		free(keys);
	}
	return 0;
}

/* Note the default used for a key the file leaves out, once. */
static void __attribute__((format(printf, 3, 4)))
conf_default(const struct conf *c, const char *key, const char *fmt, ...)
{
	struct conf_defaults *cd = c->c_defs;
	char buf[512];
	va_list ap;
	size_t i;

	for (i = 0; i < cd->cd_n; i++)
		if (strcmp(cd->cd_key[i], key) == 0)
			return;
	cd->cd_key = xrealloc(cd->cd_key, (cd->cd_n + 1) * sizeof *cd->cd_key);
	cd->cd_val = xrealloc(cd->cd_val, (cd->cd_n + 1) * sizeof *cd->cd_val);
	cd->cd_key[cd->cd_n] = xstrdup(key);
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	cd->cd_val[cd->cd_n] = xstrdup(buf);
	cd->cd_n++;
}

/* The value set in the file, or NULL when absent or empty. */
static const char *
conf_get(const struct conf *c, const char *key)
{
	const char *v = iniparser_getstring(c->c_dict, key, NULL);

	return v == NULL || *v == '\0' ? NULL : v;
}

/* A string value, or def when absent or empty. */
const char *
conf_str(const struct conf *c, const char *key, const char *def)
{
	const char *v = conf_get(c, key);

	if (v == NULL && def != NULL)
		conf_default(c, key, "%s", def);
	return v != NULL ? v : def;
}

/* "30s" or "500ms" for a duration default. */
static void
conf_default_ms(const struct conf *c, const char *key, int ms)
{
	if (ms % 60000 == 0 && ms > 0)
		conf_default(c, key, "%dm", ms / 60000);
	else if (ms % 1000 == 0)
		conf_default(c, key, "%ds", ms / 1000);
	else
		conf_default(c, key, "%dms", ms);
}

/* "16M" or "256K" for a size default. */
static void
conf_default_size(const struct conf *c, const char *key, uint64_t v)
{
	if (v != 0 && v % (1024 * 1024) == 0)
		conf_default(c, key, "%lluM", (unsigned long long)(v >> 20));
	else if (v != 0 && v % 1024 == 0)
		conf_default(c, key, "%lluK", (unsigned long long)(v >> 10));
	else
		conf_default(c, key, "%llu", (unsigned long long)v);
}

/* Is key one whose value -T does not show? */
static int
conf_secret(const char *key)
{
	const char *colon = strchr(key, ':');

	return colon != NULL && strcmp(colon + 1, "password") == 0;
}

/*
 * One line of -T: a password as "(set, not shown)", and the password in
 * a URL's user part (via = http://user:secret@proxy) as "****".
 */
static void
conf_dump_value(FILE *f, const char *name, const char *key, const char *v)
{
	const char *scheme, *at, *colon;

	if (conf_secret(key)) {
		fprintf(f, "%s = (set, not shown)\n", name);
		return;
	}
	if ((scheme = strstr(v, "://")) != NULL &&
	    (at = strchr(scheme + 3, '@')) != NULL &&
	    (colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3))) !=
		NULL) {
		fprintf(f, "%s = %.*s****%s\n", name, (int)(colon + 1 - v), v,
		    at);
		return;
	}
	fprintf(f, "%s = %s\n", name, v);
}

/* Print one section's keys: the file's values, then the defaults. */
static void
conf_dump_section(const struct conf *c, const char *sec, FILE *f)
{
	const struct conf_defaults *cd = c->c_defs;
	const char **keys = NULL;
	size_t i, len = strlen(sec);
	int n, j;

	fprintf(f, "[%s]\n", sec);
	n = iniparser_getsecnkeys(c->c_dict, sec);
	if (n > 0) {
		keys = xcalloc((size_t)n, sizeof *keys);
		iniparser_getseckeys(c->c_dict, sec, keys);
	}
	for (j = 0; j < n; j++)
		conf_dump_value(f, keys[j] + len + 1, keys[j],
		    iniparser_getstring(c->c_dict, keys[j], ""));
	free(keys);
	for (i = 0; i < cd->cd_n; i++)
		if (strncmp(cd->cd_key[i], sec, len) == 0 &&
		    cd->cd_key[i][len] == ':')
			fprintf(f, "%s = %s\n", cd->cd_key[i] + len + 1,
			    cd->cd_val[i]);
	fputc('\n', f);
}

/* conf_dump() into a string, for printing once every check has passed. */
char *
conf_dump_text(const struct conf *c)
{
	char *text = NULL;
	size_t len;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return NULL;
	conf_dump(c, f);
	fclose(f);
	return text;
}

/*
 * -T: the effective configuration, as the program took it: every key the
 * file sets, then each default it used in the file's place.
 */
void
conf_dump(const struct conf *c, FILE *f)
{
	const struct conf_defaults *cd = c->c_defs;
	char sec[256];
	size_t i, k, len;
	int n, j, done;

	fprintf(f, "# %s\n", c->c_path);
	n = iniparser_getnsec(c->c_dict);
	for (j = 0; j < n; j++)
		conf_dump_section(c, iniparser_getsecname(c->c_dict, j), f);
	/* Sections only the defaults fill, in the order they were read. */
	for (i = 0; i < cd->cd_n; i++) {
		len = strcspn(cd->cd_key[i], ":");
		if (len >= sizeof sec)
			continue;
		memcpy(sec, cd->cd_key[i], len);
		sec[len] = '\0';
		if (iniparser_find_entry(c->c_dict, sec))
			continue;
		for (done = 0, k = 0; k < i && !done; k++)
			done = strncmp(cd->cd_key[k], sec, len) == 0 &&
			    cd->cd_key[k][len] == ':';
		if (!done)
			conf_dump_section(c, sec, f);
	}
}

/* A file path, taken relative to the config file's folder. */
int
conf_path_key(const struct conf *c, const char *key, char **out, char **cause)
{
	const char *v = conf_str(c, key, NULL);
	const char *home;

	(void)cause;
	*out = NULL;
	if (v == NULL)
		return 0;
	if (v[0] == '/')
		*out = xstrdup(v);
	else if (v[0] == '~' && v[1] == '/' && (home = getenv("HOME")) != NULL)
		xasprintf(out, "%s/%s", home, v + 2);
	else
		xasprintf(out, "%s/%s", c->c_dir, v);
	return 0;
}

/* Parse "10s", "500ms", "2m", "1h" or plain seconds into milliseconds. */
int
conf_parse_duration(const char *s, int *ms)
{
	char *end;
	const char *p;
	double v;

	/* Decimal only: strtod would take 0x10, 1e3, inf. */
	for (p = s; isdigit((unsigned char)*p) || *p == '.'; p++)
		;
	if (p == s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (end != p || errno != 0 || v < 0)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	if (*end == '\0' || strcmp(end, "s") == 0)
		v *= 1000;
	else if (strcmp(end, "ms") == 0)
		;
	else if (strcmp(end, "m") == 0)
		v *= 60000;
	else if (strcmp(end, "h") == 0)
		v *= 3600000;
	else
		return -1;
	if (v > 86400000.0)
		return -2;
	*ms = (int)v;
	return 0;
}

/* Parse "256K", "16M", "1G" or plain bytes. */
int
conf_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		mul = 1024;
		end++;
		break;
	case 'M':
		mul = 1024 * 1024;
		end++;
		break;
	case 'G':
		mul = 1024ULL * 1024 * 1024;
		end++;
		break;
	default:
		return -1;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0' || v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

/* A duration key. */
int
conf_duration(const struct conf *c, const char *key, int def_ms, int *ms,
    char **cause)
{
	const char *v = conf_get(c, key);

	*ms = def_ms;
	if (v == NULL) {
		conf_default_ms(c, key, def_ms);
		return 0;
	}
	switch (conf_parse_duration(v, ms)) {
	case 0:
		if (*ms > 0)
			return 0;
		/* FALLTHROUGH */
	case -2:
		return conf_error(cause, c, key,
		    "%s is out of range (1ms to 24h)", v);
	default:
		return conf_error(cause, c, key,
		    "\"%s\" is not a duration (e.g. 10s, 500ms, 2m)", v);
	}
}

/* A size key within [min, max]. */
int
conf_size(const struct conf *c, const char *key, uint64_t def, uint64_t min,
    uint64_t max, uint64_t *out, char **cause)
{
	const char *v = conf_get(c, key);

	*out = def;
	if (v == NULL) {
		conf_default_size(c, key, def);
		return 0;
	}
	if (conf_parse_size(v, out) != 0)
		return conf_error(cause, c, key,
		    "\"%s\" is not a size (e.g. 256K, 16M)", v);
	if (*out < min || *out > max)
		return conf_error(cause, c, key,
		    "%s is out of range (%llu to %llu bytes)", v,
		    (unsigned long long)min, (unsigned long long)max);
	return 0;
}

/* A whole number within [min, max] (a count, not a size). */
int
conf_count(const struct conf *c, const char *key, unsigned def, unsigned min,
    unsigned max, unsigned *out, char **cause)
{
	const char *v = conf_get(c, key);
	unsigned long long n;
	char *end;

	*out = def;
	if (v == NULL) {
		conf_default(c, key, "%u", def);
		return 0;
	}
	errno = 0;
	n = strtoull(v, &end, 10);
	if (!isdigit((unsigned char)*v) || *end != '\0' || errno != 0)
		return conf_error(cause, c, key, "\"%s\" is not a number", v);
	if (n < min || n > max)
		return conf_error(cause, c, key,
		    "%s is out of range (%u to %u)", v, min, max);
	*out = (unsigned)n;
	return 0;
}

/* A yes/no key. */
int
conf_bool(const struct conf *c, const char *key, int def, int *out,
    char **cause)
{
	const char *v = conf_get(c, key);

	*out = def;
	if (v == NULL) {
		conf_default(c, key, "%s", def ? "yes" : "no");
		return 0;
	}
	if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 ||
	    strcmp(v, "1") == 0 || strcasecmp(v, "on") == 0)
		*out = 1;
	else if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 ||
	    strcmp(v, "0") == 0 || strcasecmp(v, "off") == 0)
		*out = 0;
	else
		return conf_error(cause, c, key, "\"%s\" is not yes or no", v);
	return 0;
}
