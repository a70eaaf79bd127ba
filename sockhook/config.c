/* sockhook configuration: the [sockhook] section of an INI file. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "addr.h"
#include "conf.h"
#include "sockhook.h"

static const char *const config_keys[] = { "sockhook:esp", "sockhook:route",
	"sockhook:dns", "sockhook:user", "sockhook:password_file",
	"sockhook:timeout", NULL };

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

/* Parse the esp key: host:port of the ESP's SOCKS5 door. */
static int
config_esp(struct config *cf, struct conf *c, char **cause)
{
	const char *v = conf_str(c, "sockhook:esp", NULL);
	uint16_t port;

	if (v == NULL)
		return conf_error(cause, c, "sockhook:esp",
		    "missing (the ESP's SOCKS5 door, e.g. "
		    "esp.example.net:1080)");
	if (addr_split_hostport(v, &cf->esp_host, &cf->esp_port) != 0 ||
	    addr_port_parse(cf->esp_port, &port) != 0)
		return conf_error(cause, c, "sockhook:esp",
		    "\"%s\" is not HOST:PORT (e.g. esp.example.net:1080)", v);
	return 0;
}

/* Load and check a file. On error, *cause holds one line and cf says
 * how much is still known (routes_known). */
int
config_load(struct config *cf, const char *path, char **cause)
{
	struct conf *c;
	const char *v;
	char *why = NULL;

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
	if (config_esp(cf, c, cause) != 0 || config_dns(cf, c, cause) != 0)
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
		if (config_password(cf, c, cause) != 0)
			goto fail;
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
	for (i = 0; i < cf->nsuffix; i++)
		free(cf->suffix[i]);
	free(cf->user);
	if (cf->pass != NULL)
		explicit_bzero(cf->pass, strlen(cf->pass));
	free(cf->pass);
	memset(cf, 0, sizeof *cf);
}
