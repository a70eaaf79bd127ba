/* Password hashes for users: SCRAM secrets over scrypt (lib/scram.c). */
#ifndef DP_KDF_H
#define DP_KDF_H

#include <stddef.h>

char *kdf_hash(const char *password);
int kdf_verify(const char *password, const char *hash);
int kdf_verify_bytes(const void *password, size_t len, const char *hash);
char *kdf_dummy_hash(void);
int kdf_valid(const char *hash);
int kdf_agent_cost_ok(const char *hash);
char *kdf_convert(const char *hash);

#endif
