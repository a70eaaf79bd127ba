/* Every key isp.conf may hold: anything else is refused by name. */
#include "isp.h"

const char *const isp_known_keys[] = { "isp:esp", "isp:allow", "isp:rules",
	"isp:id", "isp:connect_timeout", "isp:reconnect_max",
	"isp:drain_timeout", "isp:expect_timeout", "isp:listen_timeout",
	"isp:data_address", "isp:holdback", "isp:via", "isp:login_threads",
	"isp:reverse_per_channel", "isp:reverse_per_user",
	"isp:reverse_per_session", "isp:login_queue", "isp:login_failures",
	"isp:login_failure_window", "isp:session_login_rate", "isp:sessions",
	"isp:workers", "isp:login_cert", "isp:login_key", "policy:anonymous",
	"policy:reverse", "policy:rules", "policy:user_ca", "user *:password",
	"user *:groups", "user *:allow", "user *:rules", "user *:reverse",
	"group *:allow", "group *:rules", "group *:reverse", "log:audit",
	"session:window", "session:channel_window",
	"session:channel_window_max", "session:queue", "session:keepalive",
	"session:max_channels", "session:dead_after", "session:stall_timeout",
	"session:handshake_timeout", "tls:psk_file", "tls:psk_identity",
	"tls:cert", "tls:key", "tls:ca", "tls:peer_name", "log:syslog",
	"log:verbose", "log:audit_format", "log:file", "daemon:user",
	"daemon:group", "daemon:chroot", "daemon:allow_root", "metrics:listen",
	NULL };
