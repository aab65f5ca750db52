/*
 * TLS for the gRPC transport: loading the PEM files an operator names,
 * checking them before anything listens (so that a wrong file is refused
 * at start with its name, not discovered as a failed handshake on some
 * peer later), and reading who called from a call's auth context.
 *
 * Identity: a node's certificate carries the URI SAN raftkv://node/N
 * (TRANSPORT_GRPC_NODE_URI). A URI cannot be mistaken for a host name,
 * so a certificate made for a host, or a client's, never passes for a
 * node. A certificate with two node URIs names no node.
 *
 * The checks use OpenSSL, which gRPC itself links for its TLS.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "grpc_internal.h"
#include "transport/transport.h"

/* A PEM file larger than this is not a certificate or a key. */
#define PEM_FILE_MAX (1u << 20)

/* Reads @path whole into a NUL-terminated buffer. */
static int read_text(const char *path, char **out, char *why, size_t why_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        transport_grpc_why(why, why_len, "%s: %s", path, strerror(errno));
        return COMMON_EIO;
    }
    char *buf = malloc(PEM_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        transport_grpc_why(why, why_len, "%s: out of memory", path);
        return COMMON_ENOMEM;
    }
    size_t n = fread(buf, 1, PEM_FILE_MAX + 1, f);
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (err != 0) {
        free(buf);
        transport_grpc_why(why, why_len, "%s: %s", path, strerror(err));
        return COMMON_EIO;
    }
    if (n > PEM_FILE_MAX) {
        free(buf);
        transport_grpc_why(why, why_len,
                           "%s: larger than %u bytes: not a PEM file", path,
                           PEM_FILE_MAX);
        return COMMON_EPARSE;
    }
    buf[n] = '\0';
    if (strlen(buf) != n) {
        free(buf);
        transport_grpc_why(why, why_len, "%s: holds a NUL byte: not a PEM file",
                           path);
        return COMMON_EPARSE;
    }
    *out = buf;
    return 0;
}

/* Every certificate in @pem, in order (NULL when none parses). */
static STACK_OF(X509) * parse_certs(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (bio == NULL) {
        return NULL;
    }
    STACK_OF(X509) *certs = sk_X509_new_null();
    X509 *x;
    while (certs != NULL &&
           (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_push(certs, x) == 0) {
            X509_free(x);
            break;
        }
    }
    BIO_free(bio);
    ERR_clear_error(); /* the end of the input reads as an error */
    if (certs != NULL && sk_X509_num(certs) == 0) {
        sk_X509_free(certs);
        certs = NULL;
    }
    return certs;
}

static void time_text(const ASN1_TIME *t, char *buf, size_t len)
{
    buf[0] = '\0';
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return;
    }
    if (ASN1_TIME_print(bio, t) == 1) {
        int n = BIO_read(bio, buf, (int)len - 1);
        buf[n > 0 ? n : 0] = '\0';
    }
    BIO_free(bio);
}

/* The node ids named by @x's URI SANs: how many (0, 1 or 2 for "more than
 * one"), the first in @id. */
static int cert_node_ids(X509 *x, raft_id *id)
{
    int found = 0;
    *id = 0;
    GENERAL_NAMES *names =
        X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    if (names == NULL) {
        return 0;
    }
    for (int k = 0; k < sk_GENERAL_NAME_num(names); k++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, k);
        if (g->type != GEN_URI) {
            continue;
        }
        const unsigned char *s =
            ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
        int len = ASN1_STRING_length(g->d.uniformResourceIdentifier);
        raft_id v;
        if (transport_grpc_node_uri_parse((const char *)s, (size_t)len, &v)) {
            if (found == 0) {
                *id = v;
            }
            found = found < 2 ? found + 1 : 2;
        }
    }
    GENERAL_NAMES_free(names);
    return found;
}

bool transport_grpc_node_uri_parse(const char *s, size_t len, raft_id *id)
{
    const size_t plen = sizeof TRANSPORT_GRPC_NODE_URI - 1;
    if (len <= plen || len > plen + 20 ||
        memcmp(s, TRANSPORT_GRPC_NODE_URI, plen) != 0) {
        return false;
    }
    uint64_t v = 0;
    for (size_t k = plen; k < len; k++) {
        if (s[k] < '0' || s[k] > '9' || (k == plen && s[k] == '0')) {
            return false;
        }
        unsigned d = (unsigned)(s[k] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *id = v;
    return true;
}

/* Checks @cert (from @cert_file) against the CA certificates @cas (from
 * @ca_file): in its validity period, and chaining to one of them through
 * the intermediates after it in @chain. */
static int check_chain(X509 *cert,
                       STACK_OF(X509) * chain,
                       STACK_OF(X509) * cas,
                       const char *cert_file,
                       const char *ca_file,
                       char *why,
                       size_t why_len)
{
    char when[64];
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
        time_text(X509_get0_notAfter(cert), when, sizeof when);
        transport_grpc_why(why, why_len, "%s: the certificate expired on %s",
                           cert_file, when);
        return COMMON_EINVAL;
    }
    if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0) {
        time_text(X509_get0_notBefore(cert), when, sizeof when);
        transport_grpc_why(why, why_len,
                           "%s: the certificate is not valid before %s",
                           cert_file, when);
        return COMMON_EINVAL;
    }
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    int rv = COMMON_ENOMEM;
    if (store == NULL || ctx == NULL || untrusted == NULL) {
        transport_grpc_why(why, why_len, "out of memory checking %s",
                           cert_file);
        goto out;
    }
    for (int k = 0; k < sk_X509_num(cas); k++) {
        X509_STORE_add_cert(store, sk_X509_value(cas, k));
    }
    for (int k = 1; k < sk_X509_num(chain); k++) {
        sk_X509_push(untrusted, sk_X509_value(chain, k));
    }
    if (X509_STORE_CTX_init(ctx, store, cert, untrusted) != 1) {
        transport_grpc_why(why, why_len, "out of memory checking %s",
                           cert_file);
        goto out;
    }
    if (X509_verify_cert(ctx) != 1) {
        int err = X509_STORE_CTX_get_error(ctx);
        transport_grpc_why(why, why_len, "%s: not signed by the CA in %s (%s)",
                           cert_file, ca_file,
                           X509_verify_cert_error_string(err));
        rv = COMMON_EINVAL;
        goto out;
    }
    rv = 0;
out:
    sk_X509_free(untrusted);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return rv;
}

/* Checks the certificate and key pair of @t against @cas and @expect. */
static int check_pair(const struct transport_grpc_tls *t,
                      STACK_OF(X509) * cas,
                      const struct transport_grpc_tls_files *f,
                      char *why,
                      size_t why_len)
{
    STACK_OF(X509) *chain = parse_certs(t->cert_pem);
    if (chain == NULL) {
        transport_grpc_why(why, why_len, "%s: no PEM certificate in it",
                           f->cert_file);
        return COMMON_EPARSE;
    }
    X509 *cert = sk_X509_value(chain, 0);
    EVP_PKEY *key = NULL;
    BIO *bio = BIO_new_mem_buf(t->key_pem, -1);
    if (bio != NULL) {
        key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }
    int rv = 0;
    if (key == NULL) {
        transport_grpc_why(why, why_len,
                           "%s: no PEM private key in it (keys protected by a "
                           "passphrase are not supported)",
                           f->key_file);
        rv = COMMON_EPARSE;
        goto out;
    }
    if (X509_check_private_key(cert, key) != 1) {
        transport_grpc_why(why, why_len,
                           "%s is not the key of the certificate in %s",
                           f->key_file, f->cert_file);
        rv = COMMON_EINVAL;
        goto out;
    }
    rv = check_chain(cert, chain, cas, f->cert_file, f->ca_file, why, why_len);
    if (rv != 0) {
        goto out;
    }
    raft_id named = 0;
    int n = cert_node_ids(cert, &named);
    if (f->node != 0) {
        if (n == 0) {
            transport_grpc_why(
                why, why_len,
                "%s: names no raft-kv node: a node's certificate needs "
                "the URI SAN " TRANSPORT_GRPC_NODE_URI
                "%llu (scripts/gen-certs.sh makes one)",
                f->cert_file, (unsigned long long)f->node);
            rv = COMMON_EINVAL;
        } else if (n > 1) {
            transport_grpc_why(
                why, why_len,
                "%s: names more than one raft-kv node in its URI SANs",
                f->cert_file);
            rv = COMMON_EINVAL;
        } else if (named != f->node) {
            transport_grpc_why(why, why_len,
                               "%s: is the certificate of node %llu, not %llu",
                               f->cert_file, (unsigned long long)named,
                               (unsigned long long)f->node);
            rv = COMMON_EINVAL;
        } else if (X509_check_purpose(cert, X509_PURPOSE_SSL_SERVER, 0) != 1 ||
                   X509_check_purpose(cert, X509_PURPOSE_SSL_CLIENT, 0) != 1) {
            transport_grpc_why(
                why, why_len,
                "%s: a node's certificate must allow both TLS server and "
                "client use (extendedKeyUsage serverAuth, clientAuth)",
                f->cert_file);
            rv = COMMON_EINVAL;
        }
    } else if (X509_check_purpose(cert, X509_PURPOSE_SSL_CLIENT, 0) != 1) {
        transport_grpc_why(why, why_len,
                           "%s: the certificate does not allow TLS client use "
                           "(extendedKeyUsage clientAuth)",
                           f->cert_file);
        rv = COMMON_EINVAL;
    }
    if (rv == 0 && f->host != NULL && f->host[0] != '\0') {
        int ok = X509_check_ip_asc(cert, f->host, 0);
        if (ok < 0) { /* not an IP address: a host name */
            ok = X509_check_host(cert, f->host, 0, 0, NULL);
        }
        if (ok != 1) {
            transport_grpc_why(
                why, why_len,
                "%s: does not name %s (this node's address in the "
                "cluster), so peers and clients would refuse it",
                f->cert_file, f->host);
            rv = COMMON_EINVAL;
        }
    }
out:
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
    ERR_clear_error();
    return rv;
}

int transport_grpc_tls_load(const struct transport_grpc_tls_files *f,
                            struct transport_grpc_tls *out,
                            char *why,
                            size_t why_len)
{
    memset(out, 0, sizeof *out);
    if (f->ca_file == NULL || (f->cert_file == NULL) != (f->key_file == NULL) ||
        (f->node != 0 && f->cert_file == NULL)) {
        transport_grpc_why(
            why, why_len,
            "TLS needs a CA file, and a certificate with its key%s",
            f->node != 0 ? "" : " (or neither)");
        return COMMON_EINVAL;
    }
    int rv = read_text(f->ca_file, &out->ca_pem, why, why_len);
    if (rv == 0 && f->cert_file != NULL) {
        rv = read_text(f->cert_file, &out->cert_pem, why, why_len);
        if (rv == 0) {
            rv = read_text(f->key_file, &out->key_pem, why, why_len);
        }
    }
    if (rv != 0) {
        transport_grpc_tls_fini(out);
        return rv;
    }
    STACK_OF(X509) *cas = parse_certs(out->ca_pem);
    if (cas == NULL) {
        transport_grpc_why(why, why_len, "%s: no PEM certificate in it",
                           f->ca_file);
        transport_grpc_tls_fini(out);
        return COMMON_EPARSE;
    }
    if (out->cert_pem != NULL) {
        rv = check_pair(out, cas, f, why, why_len);
    }
    sk_X509_pop_free(cas, X509_free);
    if (rv != 0) {
        transport_grpc_tls_fini(out);
    }
    return rv;
}

void transport_grpc_tls_fini(struct transport_grpc_tls *t)
{
    if (t == NULL) {
        return;
    }
    /* Key material does not linger in freed memory. */
    if (t->key_pem != NULL) {
        OPENSSL_cleanse(t->key_pem, strlen(t->key_pem));
    }
    free(t->ca_pem);
    free(t->cert_pem);
    free(t->key_pem);
    memset(t, 0, sizeof *t);
}

grpc_channel_credentials *transport_grpc_channel_creds(
    const struct transport_grpc_tls *tls)
{
    if (tls == NULL) {
        return grpc_insecure_credentials_create();
    }
    grpc_ssl_pem_key_cert_pair pair = {.private_key = tls->key_pem,
                                       .cert_chain = tls->cert_pem};
    return grpc_ssl_credentials_create(
        tls->ca_pem, tls->cert_pem != NULL ? &pair : NULL, NULL, NULL);
}

raft_id transport_grpc_call_node(grpc_call *call)
{
    grpc_auth_context *ctx = grpc_call_auth_context(call);
    if (ctx == NULL) {
        return 0;
    }
    raft_id id = 0;
    int found = 0;
    grpc_auth_property_iterator it = grpc_auth_context_find_properties_by_name(
        ctx, GRPC_PEER_URI_PROPERTY_NAME);
    const grpc_auth_property *p;
    while ((p = grpc_auth_property_iterator_next(&it)) != NULL) {
        raft_id v;
        if (p->value != NULL &&
            transport_grpc_node_uri_parse(p->value, p->value_length, &v)) {
            id = v;
            found++;
        }
    }
    grpc_auth_context_release(ctx);
    return found == 1 ? id : 0;
}
