/* sockhook configuration: the [sockhook] section of an INI file. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "addr.h"
#include "certlogin.h"
#include "conf.h"
#include "sockhook.h"

static const char *const config_keys[] = { "sockhook:esp", "sockhook:agent",
	"sockhook:route", "sockhook:dns", "sockhook:user",
	"sockhook:password_file", "sockhook:timeout", "sockhook:ca",
	"sockhook:cert", "sockhook:key", "sockhook:isp_ca", "sockhook:isp_name",
	"sockhook:peer_name", "sockhook:via", "sockhook:linger",
	"sockhook:login_timeout", NULL };

/* Keys that only mean something with agent =. */
static const char *const config_agent_keys[] = { "sockhook:ca", "sockhook:cert",
	"sockhook:key", "sockhook:isp_ca", "sockhook:isp_name",
	"sockhook:peer_name", "sockhook:via", "sockhook:linger",
	"sockhook:login_timeout", NULL };

/* Read the first line of the password file, which only we may read. */
static int
config_password(struct config *cf, struct conf *c, char **cause)
{
	char *path = NULL, line[512];
	struct stat st;
	FILE *f;
	size_t n;

	conf_path_key(c, "sockhook:password_file", &path, cause);
	if (path == NULL)
		return conf_error(cause, c, "sockhook:password_file",
		    "needed when user is set");
	if (stat(path, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO))) {
		conf_error(cause, c, "sockhook:password_file",
		    "%s is accessible to group or others (mode %03o); run "
		    "chmod 600 %s",
		    path, (unsigned)(st.st_mode & 0777), path);
		free(path);
		return -1;
	}
	if ((f = fopen(path, "r")) == NULL) {
		conf_error(cause, c, "sockhook:password_file", "%s: %s", path,
		    strerror(errno));
		free(path);
		return -1;
	}
	if (fgets(line, sizeof line, f) == NULL)
		line[0] = '\0';
	fclose(f);
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	if (n == 0 || n > 255) {
		conf_error(cause, c, "sockhook:password_file",
		    "%s: first line must hold a password of 1 to 255 bytes",
		    path);
		free(path);
		return -1;
	}
	free(path);
	cf->pass = strdup(line);
	return cf->pass == NULL ? -1 : 0;
}

/* Parse the dns suffix list into lower-case words. */
static int
config_dns(struct config *cf, struct conf *c, char **cause)
{
	const char *v = conf_str(c, "sockhook:dns", NULL);
	char *copy, *tok, *save = NULL, *p;

	if (v == NULL)
		return 0;
	if ((copy = strdup(v)) == NULL)
		return -1;
	for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t,", &save)) {
		for (p = tok; *p != '\0'; p++) {
			*p = (char)tolower((unsigned char)*p);
			if (!isalnum((unsigned char)*p) && *p != '.' &&
			    *p != '-' && *p != '_')
				break;
		}
		if (*p != '\0' || strcmp(tok, ".") == 0 || strlen(tok) > 253 ||
		    strstr(tok, "..") != NULL) {
			conf_error(cause, c, "sockhook:dns",
			    "\"%s\" is not a domain suffix (e.g. corp.example "
			    "or .internal)",
			    tok);
			free(copy);
			return -1;
		}
		if (cf->nsuffix == SOCKHOOK_MAXSUFFIX) {
			conf_error(cause, c, "sockhook:dns",
			    "more than %d suffixes", SOCKHOOK_MAXSUFFIX);
			free(copy);
			return -1;
		}
		cf->suffix[cf->nsuffix++] = strdup(tok);
	}
	free(copy);
	return 0;
}

/*
 * Parse esp (host:port of the esp's SOCKS5 door) or agent (of its door
 * for client agents): exactly one of them.
 */
static int
config_esp(struct config *cf, struct conf *c, char **cause)
{
	const char *v = conf_str(c, "sockhook:esp", NULL);
	const char *key = "sockhook:esp";
	uint16_t port;
	int i;

	if (v != NULL && conf_str(c, "sockhook:agent", NULL) != NULL)
		return conf_error(cause, c, "sockhook:agent",
		    "set together with esp: choose the SOCKS door (esp =) or "
		    "an agent (agent =)");
	if (v == NULL && (v = conf_str(c, "sockhook:agent", NULL)) != NULL) {
		key = "sockhook:agent";
		cf->agent = 1;
	}
	if (v == NULL)
		return conf_error(cause, c, "sockhook:esp",
		    "missing (the ESP's SOCKS5 door, e.g. "
		    "esp.example.net:1080, or agent = esp.example.net:4431)");
	if (addr_split_hostport(v, &cf->esp_host, &cf->esp_port) != 0 ||
	    addr_port_parse(cf->esp_port, &port) != 0)
		return conf_error(cause, c, key,
		    "\"%s\" is not HOST:PORT (e.g. esp.example.net:%s)", v,
		    cf->agent ? "4431" : "1080");
	for (i = 0; !cf->agent && config_agent_keys[i] != NULL; i++)
		if (conf_str(c, config_agent_keys[i], NULL) != NULL)
			return conf_error(cause, c, config_agent_keys[i],
			    "only used with agent =");
	return 0;
}

/* Check isp_name: 1 to 16 host names. */
static int
config_names(const char *v, const char **why)
{
	size_t len, i, n = 0;

	for (; *v != '\0'; v += len) {
		v += strspn(v, CERTLOGIN_NAME_SEP);
		if ((len = strcspn(v, CERTLOGIN_NAME_SEP)) == 0)
			continue;
		*why = "a name is longer than 253 characters";
		if (len > 253)
			return -1;
		*why = "a name has characters other than letters, digits, "
		       "'-', '_' and '.'";
		for (i = 0; i < len; i++)
			if (!isalnum((unsigned char)v[i]) && v[i] != '-' &&
			    v[i] != '_' && v[i] != '.')
				return -1;
		*why = "more than 16 names";
		if (++n > 16)
			return -1;
	}
	*why = "empty: name the isps' certificates";
	return n > 0 ? 0 : -1;
}

/* The agent's keys: the CA, a certificate login, a proxy, the linger, how
 * long a login may take. */
static int
config_agent(struct config *cf, struct conf *c, char **cause)
{
	const char *v, *why;

	if (!cf->agent)
		return 0;
	if (conf_path_key(c, "sockhook:ca", &cf->ca, cause) != 0)
		return -1;
	if (cf->ca == NULL)
		return conf_error(cause, c, "sockhook:ca",
		    "missing: the CA the esp's certificate must chain to");
	if (conf_path_key(c, "sockhook:cert", &cf->cert, cause) != 0 ||
	    conf_path_key(c, "sockhook:key", &cf->key, cause) != 0)
		return -1;
	if ((cf->cert == NULL) != (cf->key == NULL))
		return conf_error(cause, c,
		    cf->cert == NULL ? "sockhook:cert" : "sockhook:key",
		    "missing: a certificate login needs both cert and key");
	if (cf->cert != NULL &&
	    conf_str(c, "sockhook:password_file", NULL) != NULL)
		return conf_error(cause, c, "sockhook:cert",
		    "set together with password_file: log in by one of them");
	if (conf_path_key(c, "sockhook:isp_ca", &cf->isp_ca, cause) != 0)
		return -1;
	if (cf->isp_ca != NULL && cf->cert == NULL)
		return conf_error(cause, c, "sockhook:isp_ca",
		    "only for a certificate login (cert =): a password "
		    "login proves the isp already");
	if ((v = conf_str(c, "sockhook:isp_name", NULL)) != NULL) {
		if (cf->isp_ca == NULL)
			return conf_error(cause, c, "sockhook:isp_name",
			    "only with isp_ca: the names are checked in the "
			    "certificates under it");
		if (config_names(v, &why) != 0)
			return conf_error(cause, c, "sockhook:isp_name", "%s",
			    why);
		cf->isp_name = strdup(v);
	}
	if ((v = conf_str(c, "sockhook:peer_name", NULL)) != NULL)
		cf->peer_name = strdup(v);
	if ((v = conf_str(c, "sockhook:via", NULL)) != NULL)
		cf->via = strdup(v);
	if (conf_duration(c, "sockhook:login_timeout", 60000,
		&cf->login_timeout_ms, cause) != 0)
		return -1;
	if (cf->login_timeout_ms < 1000 || cf->login_timeout_ms > 600000)
		return conf_error(cause, c, "sockhook:login_timeout",
		    "out of range (1s to 10m)");
	return conf_duration(c, "sockhook:linger", 5000, &cf->linger_ms, cause);
}

/* Load and check a file. On error, *cause holds one line and cf says
 * how much is still known (routes_known). */
int
config_load(struct config *cf, const char *path, int flags, char **cause)
{
	struct conf *c;
	const char *v;
	char *why = NULL;
	int secrets;

	memset(cf, 0, sizeof *cf);
	cf->timeout_ms = SOCKHOOK_TIMEOUT_MS;
	cf->path = strdup(path);
	if ((c = conf_load(path, cause)) == NULL)
		return -1;
	if (conf_check_keys(c, config_keys, cause) != 0)
		goto fail;
	v = conf_str(c, "sockhook:route", NULL);
	if (allow_parse(&cf->route, v, &why) != 0) {
		conf_error(cause, c, "sockhook:route", "%s", why);
		free(why);
		goto fail;
	}
	cf->routes_known = 1;
	if (config_esp(cf, c, cause) != 0 || config_agent(cf, c, cause) != 0 ||
	    config_dns(cf, c, cause) != 0)
		goto fail;
	if (conf_duration(c, "sockhook:timeout", SOCKHOOK_TIMEOUT_MS,
		&cf->timeout_ms, cause) != 0)
		goto fail;
	if ((v = conf_str(c, "sockhook:user", NULL)) != NULL) {
		if (strlen(v) > 255) {
			conf_error(cause, c, "sockhook:user",
			    "longer than 255 bytes");
			goto fail;
		}
		cf->user = strdup(v);
		/* Behind an agent, only the agent reads the password. */
		secrets = cf->agent ? (flags & CONFIG_AGENT) != 0
				    : (flags & CONFIG_SECRETS) != 0;
		if (cf->cert == NULL && secrets &&
		    config_password(cf, c, cause) != 0)
			goto fail;
		if (cf->cert == NULL && !secrets &&
		    conf_str(c, "sockhook:password_file", NULL) == NULL) {
			conf_error(cause, c, "sockhook:password_file",
			    "needed when user is set");
			goto fail;
		}
	} else if (conf_str(c, "sockhook:password_file", NULL) != NULL) {
		conf_error(cause, c, "sockhook:password_file",
		    "set, but user is not");
		goto fail;
	}
	conf_free(c);
	cf->ok = 1;
	return 0;
fail:
	conf_free(c);
	return -1;
}

/* Free what config_load allocated. */
void
config_free(struct config *cf)
{
	int i;

	free(cf->path);
	allow_free(&cf->route);
	free(cf->esp_host);
	free(cf->esp_port);
	free(cf->ca);
	free(cf->cert);
	free(cf->key);
	free(cf->isp_ca);
	free(cf->isp_name);
	free(cf->peer_name);
	free(cf->via);
	for (i = 0; i < cf->nsuffix; i++)
		free(cf->suffix[i]);
	free(cf->user);
	if (cf->pass != NULL)
		explicit_bzero(cf->pass, strlen(cf->pass));
	free(cf->pass);
	memset(cf, 0, sizeof *cf);
}
