/*
 * The TLS flags every program takes: --tls-cert, --tls-key, --tls-ca and
 * --insecure. TLS is on by default, as in CockroachDB: a program given
 * neither the files nor --insecure refuses to start and says both ways;
 * plaintext is something an operator asks for by name.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"

const char cmd_tls_usage[] =
    "  --tls-cert FILE       this program's certificate (PEM)\n"
    "  --tls-key FILE        its private key (PEM)\n"
    "  --tls-ca FILE         the CA every certificate must chain to\n"
    "  --insecure            no TLS: plaintext, nobody authenticated\n"
    "                        (docs/security.md says what that gives away)\n";

int cmd_tls_flag(const char *program,
                 const char *a,
                 const char *v,
                 struct cmd_tls_flags *f)
{
    const char **slot = NULL;
    if (strcmp(a, "--insecure") == 0) {
        f->insecure = true;
        return 1;
    } else if (strcmp(a, "--tls-cert") == 0) {
        slot = &f->cert_file;
    } else if (strcmp(a, "--tls-key") == 0) {
        slot = &f->key_file;
    } else if (strcmp(a, "--tls-ca") == 0) {
        slot = &f->ca_file;
    } else {
        return 0;
    }
    if (v == NULL || v[0] == '\0') {
        fprintf(stderr, "%s: %s needs a file\n", program, a);
        return -1;
    }
    *slot = v;
    return 2;
}

int cmd_tls_load(const char *program,
                 const struct cmd_tls_flags *f,
                 raft_id node,
                 const char *host,
                 struct transport_grpc_tls *out,
                 bool *secure)
{
    memset(out, 0, sizeof *out);
    *secure = false;
    bool any =
        f->cert_file != NULL || f->key_file != NULL || f->ca_file != NULL;
    if (f->insecure && any) {
        fprintf(stderr,
                "%s: --insecure and the --tls-* flags contradict each other: "
                "give one or the other\n",
                program);
        return -1;
    }
    if (f->insecure) {
        return 0;
    }
    if (!any) {
        fprintf(stderr,
                "%s: TLS is on by default: give --tls-cert FILE --tls-key "
                "FILE --tls-ca FILE (scripts/gen-certs.sh makes them), or "
                "--insecure to %s without TLS (docs/security.md)\n",
                program, node != 0 ? "run" : "talk to a cluster");
        return -1;
    }
    const char *missing = NULL;
    if (f->ca_file == NULL) {
        missing = "--tls-ca";
    } else if (f->cert_file != NULL && f->key_file == NULL) {
        missing = "--tls-key";
    } else if (f->key_file != NULL && f->cert_file == NULL) {
        missing = "--tls-cert";
    } else if (node != 0 && f->cert_file == NULL) {
        missing = "--tls-cert and --tls-key";
    }
    if (missing != NULL) {
        fprintf(stderr, "%s: %s (missing %s)\n", program,
                node != 0 ? "a node needs --tls-ca, --tls-cert and --tls-key"
                          : "a client needs --tls-ca, and --tls-cert with "
                            "--tls-key to present a certificate",
                missing);
        return -1;
    }
    struct transport_grpc_tls_files files = {
        .ca_file = f->ca_file,
        .cert_file = f->cert_file,
        .key_file = f->key_file,
        .node = node,
        .host = host,
    };
    char why[512];
    if (transport_grpc_tls_load(&files, out, why, sizeof why) != 0) {
        fprintf(stderr, "%s: TLS: %s\n", program, why);
        return -1;
    }
    *secure = true;
    return 0;
}
