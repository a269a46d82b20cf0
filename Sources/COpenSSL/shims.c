#include "COpenSSL.h"
#include <string.h>
#include <pthread.h>
#include <openssl/core_names.h>

static int ticket_keys_index = -1;
static pthread_once_t ticket_keys_index_once = PTHREAD_ONCE_INIT;

static void make_ticket_keys_index(void) {
    ticket_keys_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

// SSL_CTX_set_tlsext_ticket_key_evp_cb: `enc` 1 issues a ticket (name and
// IV out), 0 opens one (name in). Returns 1 to use the key, 2 to use it
// and issue a fresh ticket, 0 when no key has that name, -1 on error.
static int ticket_key_callback(SSL *ssl, unsigned char *name, unsigned char *iv,
                               EVP_CIPHER_CTX *cipher, EVP_MAC_CTX *mac, int enc) {
    tether_ticket_keys *keys = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ticket_keys_index);
    if (keys == NULL || keys->count <= 0) return 0;  // no key: no ticket, a full handshake
    const tether_ticket_key *key = NULL;
    int result = 1;
    if (enc) {
        key = &keys->keys[0];
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1) return -1;
        memcpy(name, key->name, sizeof key->name);
    } else {
        for (int i = 0; i < keys->count && i < 2; i++) {
            if (memcmp(name, keys->keys[i].name, sizeof key->name) == 0) {
                key = &keys->keys[i];
                result = i == 0 ? 1 : 2;
                break;
            }
        }
        if (key == NULL) return 0;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)key->hmac_key, sizeof key->hmac_key),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
    int ok = enc ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, key->aes_key, iv)
                 : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, key->aes_key, iv);
    return ok == 1 ? result : -1;
}

int tether_SSL_CTX_use_ticket_keys(SSL_CTX *ctx, tether_ticket_keys *keys) {
    pthread_once(&ticket_keys_index_once, make_ticket_keys_index);
    if (ticket_keys_index < 0) return 0;
    if (SSL_CTX_set_ex_data(ctx, ticket_keys_index, keys) != 1) return 0;
    return SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_callback) == 1;
}
