#ifndef TETHER_COPENSSL_H
#define TETHER_COPENSSL_H

// One umbrella header over OpenSSL (libssl, libcrypto). Functions are
// called straight from Swift; shims exist for macros Swift does not import
// (SSL_ctrl wrappers, 64-bit option bits) and for the session ticket key
// callback, whose MAC parameters need C string constants that outlive it.

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

// Options are SSL_OP_BIT(n) expressions, which Swift does not import.
static const uint64_t tether_SSL_OP_NO_RENEGOTIATION = SSL_OP_NO_RENEGOTIATION;
static const uint64_t tether_SSL_OP_CIPHER_SERVER_PREFERENCE = SSL_OP_CIPHER_SERVER_PREFERENCE;
static const uint64_t tether_SSL_OP_NO_COMPRESSION = SSL_OP_NO_COMPRESSION;
static const uint64_t tether_SSL_OP_NO_TICKET = SSL_OP_NO_TICKET;
static const unsigned long tether_XN_FLAG_RFC2253 = XN_FLAG_RFC2253;

// SSL_ctrl and SSL_CTX_ctrl macros.
static inline int tether_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
static inline int tether_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}
static inline int tether_SSL_set_min_proto_version(SSL *ssl, int version) {
    return (int)SSL_set_min_proto_version(ssl, version);
}
static inline int tether_SSL_set_max_proto_version(SSL *ssl, int version) {
    return (int)SSL_set_max_proto_version(ssl, version);
}
static inline long tether_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline long tether_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}
// Takes ownership of `x509` on success.
static inline int tether_SSL_CTX_add0_chain_cert(SSL_CTX *ctx, X509 *x509) {
    return (int)SSL_CTX_add0_chain_cert(ctx, x509);
}
static inline int tether_SSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, int (*callback)(SSL *, int *, void *)) {
    return (int)SSL_CTX_set_tlsext_servername_callback(ctx, callback);
}
static inline int tether_SSL_CTX_set_tlsext_servername_arg(SSL_CTX *ctx, void *arg) {
    return (int)SSL_CTX_set_tlsext_servername_arg(ctx, arg);
}
static inline int tether_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}
static inline int tether_SSL_CTX_get_ex_new_index(CRYPTO_EX_free *free_function) {
    return SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_function);
}

// BIO retry flags are macros over BIO_set_flags.
static inline void tether_BIO_set_retry_read(BIO *bio) { BIO_set_retry_read(bio); }
static inline void tether_BIO_set_retry_write(BIO *bio) { BIO_set_retry_write(bio); }
static inline void tether_BIO_clear_retry_flags(BIO *bio) { BIO_clear_retry_flags(bio); }

// Session ticket keys (RFC 5077 layout, as OpenSSL's own): a 16-byte name
// sent in the ticket, an AES-256-CBC key and an HMAC-SHA256 key.
typedef struct {
    unsigned char name[16];
    unsigned char aes_key[32];
    unsigned char hmac_key[32];
} tether_ticket_key;

// The keys a context issues and accepts tickets with: `keys[0]` issues
// and accepts; `keys[1..count)` (an earlier key after a rotation) only
// accept, and ask for the ticket to be renewed.
typedef struct {
    tether_ticket_key keys[2];
    int count;
} tether_ticket_keys;

// Makes `ctx` issue and accept tickets with `keys`, which must outlive it
// (the caller may change their contents between handshakes).
int tether_SSL_CTX_use_ticket_keys(SSL_CTX *ctx, tether_ticket_keys *keys);

#endif
