/* Every key esp.conf may hold: anything else is refused by name. */
#include "esp.h"

const char *const esp_known_keys[] = { "esp:session_listen", "esp:socks_listen",
	"esp:client_listen", "client_tls:cert", "client_tls:key",
	"esp:socks_timeout", "esp:open_timeout", "esp:drain_timeout",
	"esp:connect_timeout", "esp:max_handshakes", "esp:probe_timeout",
	"esp:outside_own_addresses", "esp:max_sessions_per_isp",
	"esp:max_session_handshakes", "esp:max_agent_handshakes",
	"esp:max_agents", "esp:max_agents_per_source",
	"esp:max_connections_per_source", "esp:agent_login_timeout",
	"esp:max_channels_per_agent", "esp:login_inflight_per_source",
	"esp:login_rate_per_source", "esp:login_inflight", "esp:login_rate",
	"isp *:psk_file", "metrics:listen", "session:window",
	"session:channel_window", "session:channel_window_max", "session:queue",
	"session:keepalive", "session:dead_after", "session:stall_timeout",
	"session:handshake_timeout", "session:max_channels", "tls:psk_file",
	"tls:psk_identity", "tls:cert", "tls:key", "tls:ca", "tls:peer_name",
	"log:syslog", "log:verbose", "log:audit", "log:audit_format",
	"log:file", "daemon:user", "daemon:group", "daemon:chroot",
	"daemon:allow_root", NULL };
