/*
 * cmd: what raftkv-server and raftkv-cli share - the client service
 * raftkv.KV (proto/kv.proto) as plain C (requests become struct
 * kv_request, answers struct kv_response and back), and the parsing of
 * their flags (the cluster map, numbers, addresses).
 *
 * The KV service on the wire (docs/api.md): every call is unary; a request
 * that cannot be decoded is the caller's error (gRPC INVALID_ARGUMENT); an
 * answer always carries a ResponseHeader whose Code is the kv_status.
 */
#ifndef CMD_CMD_H
#define CMD_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv.h"
#include "transport/transport.h"

/* Exit codes: enum common_exit (common/common.h). COMMON_EXIT_FAILED: for
 * the CLI a key not found or a cas mismatch, for the server the node failed
 * while running; COMMON_EXIT_USAGE: bad flags, bad input, an unusable data
 * directory; COMMON_EXIT_UNKNOWN: timed out, unreachable, port in use. */

/* The methods of raftkv.KV, then those of raftkv.Cluster, in the order of
 * cmd_method_paths. */
enum cmd_method {
    CMD_PUT = 0,
    CMD_GET = 1,
    CMD_DELETE = 2,
    CMD_CAS = 3,
    CMD_APPEND = 4,
    CMD_REGISTER = 5, /* opens a client session (docs/api.md) */
    CMD_STATUS = 6,
    CMD_MEMBER_LIST = 7, /* raftkv.Cluster (cmd/clusterapi.c) */
    CMD_MEMBER_ADD = 8,
    CMD_MEMBER_PROMOTE = 9,
    CMD_MEMBER_REMOVE = 10,
    CMD_TRANSFER_LEADER = 11,
};
#define CMD_METHODS 12
/* The first method of raftkv.Cluster. */
#define CMD_CLUSTER_FIRST CMD_MEMBER_LIST

/* "/raftkv.KV/Put", ..., "/raftkv.Cluster/MemberList", ... (static
 * strings). */
extern const char *const cmd_method_paths[CMD_METHODS];

/* The largest request the server takes (key, values and framing): a
 * command must fit in one Raft log entry's limit (1 MiB). Larger ones are
 * answered RESOURCE_EXHAUSTED. */
#define CMD_REQUEST_BYTES_MAX (1000u * 1000u)

/* ------------------------------------------------------------------------ */
/* Cluster map and flags                                                     */
/* ------------------------------------------------------------------------ */

#define CMD_ADDRESS_MAX 256

struct cmd_member
{
    raft_id id;
    char address[CMD_ADDRESS_MAX]; /* "HOST:PORT" */
};

struct cmd_cluster
{
    size_t n;
    struct cmd_member members[RAFT_MAX_SERVERS];
};

/* Parses "1=127.0.0.1:7001,2=127.0.0.1:7002": ids positive and distinct,
 * addresses HOST:PORT with a port in 1..65535, at most RAFT_MAX_SERVERS.
 * COMMON_EPARSE with the reason in @why. */
int cmd_cluster_parse(const char *spec,
                      struct cmd_cluster *out,
                      char *why,
                      size_t why_len);
/* The address of member @id, or NULL. */
const char *cmd_cluster_address(const struct cmd_cluster *c, raft_id id);

/* Checks "HOST:PORT" (HOST may be a name, an IPv4 address or [IPv6]; PORT
 * 1..65535, or 0 when @port0_ok). */
bool cmd_address_valid(const char *address, bool port0_ok);

/* True when @a and @b list the same ids with the same addresses, in any
 * order. */
bool cmd_cluster_equal(const struct cmd_cluster *a,
                       const struct cmd_cluster *b);
/* "1=HOST:PORT,2=HOST:PORT" in id order, cut to @len bytes. */
void cmd_cluster_format(const struct cmd_cluster *c, char *buf, size_t len);
/* The cluster id a new cluster gets from its bootstrap map and
 * --cluster-token: a 64-bit hash of both (never 0), the same on every
 * node that bootstraps with the same map and token. */
uint64_t cmd_cluster_id(const struct cmd_cluster *c, const char *token);

/* A data directory's identity (DIR/IDENTITY, cmd/identity.c): the cluster
 * it belongs to, the node it is, the members it was made with. */
struct cmd_identity
{
    uint64_t cluster_id;
    raft_id node_id;
    struct cmd_cluster members;
};

/* Reads DIR/IDENTITY. Missing: 0 with *found false. Damaged:
 * COMMON_EPARSE with "PATH:LINE: what" in @why; unreadable: COMMON_EIO. */
int cmd_identity_read(const char *dir,
                      struct cmd_identity *out,
                      bool *found,
                      char *why,
                      size_t why_len);
/* Writes DIR/IDENTITY atomically (a temporary file, fsync, rename, fsync
 * of the directory). COMMON_EIO with the path and the reason in @why. */
int cmd_identity_write(const char *dir,
                       const struct cmd_identity *id,
                       char *why,
                       size_t why_len);
/* At a server's start: on a directory without IDENTITY, records node
 * @node of the cluster @cluster (its id from @token) and sets *created;
 * on one with it, checks that @node and @cluster are what it records and
 * otherwise returns COMMON_EINVAL with @why naming the file, what it
 * records and what was given. *out is the identity in force. */
int cmd_identity_adopt(const char *dir,
                       raft_id node,
                       const struct cmd_cluster *cluster,
                       const char *token,
                       struct cmd_identity *out,
                       bool *created,
                       char *why,
                       size_t why_len);

/* After a usage error: @synopsis and where to read more, on stderr. */
void cmd_usage_short(const char *program, const char *synopsis);

/* Seconds as a decimal number > 0 and <= @max, in milliseconds. */
int cmd_parse_seconds_ms(const char *s, double max, uint64_t *out_ms);

/* ------------------------------------------------------------------------ */
/* TLS flags (every program: --tls-cert, --tls-key, --tls-ca, --insecure)   */
/* ------------------------------------------------------------------------ */

struct cmd_tls_flags
{
    const char *cert_file; /* --tls-cert */
    const char *key_file;  /* --tls-key */
    const char *ca_file;   /* --tls-ca */
    bool insecure;         /* --insecure */
};

/* Takes @a when it is a TLS flag, with its value @v (NULL at the end of
 * the command line). Returns 0 when @a is not one, 1 when it took @a
 * alone, 2 when it took @a and @v, -1 after printing that the value is
 * missing. */
int cmd_tls_flag(const char *program,
                 const char *a,
                 const char *v,
                 struct cmd_tls_flags *f);

/* The usage lines of the TLS flags, for a program's --help. */
extern const char cmd_tls_usage[];

/* Checks the TLS flags and loads the files into @out. @node: this
 * server's id (its certificate must be that node's), or 0 for a client
 * (a certificate is optional; it must allow client use). @host: the
 * address others dial to reach this server (NULL for a client).
 * With --insecure, @out is left empty and *@secure false. Returns 0, or
 * -1 after printing on stderr what is wrong, naming the flag or file. */
int cmd_tls_load(const char *program,
                 const struct cmd_tls_flags *f,
                 raft_id node,
                 const char *host,
                 struct transport_grpc_tls *out,
                 bool *secure);

/* ------------------------------------------------------------------------ */
/* The connection gate (raftkv-server only: cmd/gate.c)                      */
/* ------------------------------------------------------------------------ */

struct cmd_gate_options
{
    unsigned max_connections;     /* open TCP connections in all (1024) */
    unsigned max_per_address;     /* from one source address (256) */
    unsigned rate_per_address;    /* new ones per second from one address,
                                     bursts of twice that (200) */
    unsigned reserve_descriptors; /* never used by connections (128) */
    /* The cluster members' hosts (names or addresses, borrowed for
     * cmd_gate_start): connections from them skip the per-address cap and
     * rate and may exceed max_connections by member_reserve (64). */
    const char *const *member_hosts;
    size_t n_member_hosts;
    unsigned member_reserve;
};

void cmd_gate_options_default(struct cmd_gate_options *o);

/* Raises the soft descriptor limit to the hard one and starts admitting
 * connections by @o: a connection over a cap is closed at once, before
 * gRPC sees it. Returns the total cap in force (max_connections, or less
 * when the descriptor limit minus the reserve is lower), or -1 with the
 * reason in @why. */
int cmd_gate_start(const struct cmd_gate_options *o, char *why, size_t why_len);
/* Forgets connections that were closed since the last sweep. */
void cmd_gate_sweep(void);

struct cmd_gate_stats
{
    uint64_t accepted;            /* connections let through */
    uint64_t refused_total;       /* over max_connections */
    uint64_t refused_address;     /* over max_per_address */
    uint64_t refused_rate;        /* over rate_per_address */
    uint64_t refused_descriptors; /* at the descriptor limit (EMFILE) */
    unsigned open;                /* let through and not yet seen closed */
    unsigned cap;                 /* the total cap in force */
};
void cmd_gate_stats(struct cmd_gate_stats *s);
/* Lets everything through again and frees the gate's tables. */
void cmd_gate_stop(void);

/* ------------------------------------------------------------------------ */
/* Server side                                                               */
/* ------------------------------------------------------------------------ */

/* A decoded request; req's buffers point into it. */
struct cmd_request
{
    struct kv_request req;
    void *decoded; /* owned: release with cmd_request_free */
};

/* Decodes the request of @method (not CMD_STATUS) from @len bytes at
 * @buf into @out (req.token left 0). COMMON_EPARSE with the reason in @why
 * for bytes that are not that request or for contradictory fields (a seq
 * of 0 in a session, cas with both expected and expected_absent). */
int cmd_request_decode(enum cmd_method method,
                       const void *buf,
                       size_t len,
                       struct cmd_request *out,
                       char *why,
                       size_t why_len);
void cmd_request_free(struct cmd_request *r);

/* What a response says besides the node's answer. */
struct cmd_reply_info
{
    raft_term term;
    const char *leader_address; /* NULL or "" when unknown */
    const char *message;        /* NULL: none */
};

/* Encodes @method's response for @r (a kv_node answer) into a new buffer
 * (free() it). COMMON_ENOMEM. */
int cmd_response_encode(enum cmd_method method,
                        const struct kv_response *r,
                        const struct cmd_reply_info *info,
                        uint8_t **out,
                        size_t *len);

/* A node's own view, for Status. */
struct cmd_status
{
    raft_id id;
    char role[32];
    raft_term term;
    raft_id leader_id;
    char leader_address[CMD_ADDRESS_MAX];
    raft_index commit;
    raft_index applied;
    raft_index last;
    uint64_t digest;
    uint64_t keys;
    raft_index snapshot_index;
    uint64_t follower_lost_entries;
};

int cmd_status_encode(const struct cmd_status *s, uint8_t **out, size_t *len);
/* Do these bytes decode as a StatusRequest? */
bool cmd_status_request_valid(const void *buf, size_t len);

/* ------------------------------------------------------------------------ */
/* Client side                                                               */
/* ------------------------------------------------------------------------ */

/* Encodes @req as @method's request (not CMD_STATUS) into a new buffer
 * (free() it). COMMON_ENOMEM. */
int cmd_request_encode(enum cmd_method method,
                       const struct kv_request *req,
                       uint8_t **out,
                       size_t *len);

struct cmd_response
{
    enum kv_status code;
    raft_id leader_id;
    char leader_address[CMD_ADDRESS_MAX];
    raft_term term;
    raft_index index;
    char message[256];
    uint64_t client_id; /* RegisterClient: the new session */
    bool found;         /* get, delete */
    uint8_t *value;     /* get: malloc'd (NULL when absent); free() it */
    size_t value_len;
};

/* Decodes @method's response. COMMON_EPARSE for bytes that are not one,
 * or a Code outside the known ones. */
int cmd_response_decode(enum cmd_method method,
                        const void *buf,
                        size_t len,
                        struct cmd_response *out);

/* COMMON_EPARSE for bytes that are not a StatusResponse. */
int cmd_status_decode(const void *buf, size_t len, struct cmd_status *out);

/* ------------------------------------------------------------------------ */
/* The membership service raftkv.Cluster (cmd/clusterapi.c, docs/api.md)     */
/* ------------------------------------------------------------------------ */

/* A request of one of the Cluster methods. */
struct cmd_cluster_request
{
    enum cmd_method method;
    raft_id id;                    /* all but MemberList: not 0 */
    char address[CMD_ADDRESS_MAX]; /* MemberAdd: HOST:PORT */
    bool learner;                  /* MemberAdd */
};

/* Decodes a request of Cluster method @method from @len bytes at @buf.
 * COMMON_EPARSE with the reason in @why for bytes that are not that
 * request, an id of 0, or (MemberAdd) an address that is not HOST:PORT
 * or longer than RAFT_ADDRESS_MAX. */
int cmd_cluster_request_decode(enum cmd_method method,
                               const void *buf,
                               size_t len,
                               struct cmd_cluster_request *out,
                               char *why,
                               size_t why_len);
/* Encodes @r into a new buffer (free() it). COMMON_EINVAL for a method
 * that is not a Cluster one, COMMON_ENOMEM. */
int cmd_cluster_request_encode(const struct cmd_cluster_request *r,
                               uint8_t **out,
                               size_t *len);

struct cmd_member_info
{
    raft_id id;
    char address[CMD_ADDRESS_MAX]; /* "" when unknown */
    bool learner;
    bool leader;
};

/* What every Cluster method answers: a header as KV's (code, leader,
 * term, message) and a configuration. */
struct cmd_members
{
    enum kv_status code; /* KV_OK or KV_NOT_LEADER */
    raft_id leader_id;
    char leader_address[CMD_ADDRESS_MAX];
    raft_term term;
    char message[256];
    size_t n;
    struct cmd_member_info members[RAFT_MAX_SERVERS];
    raft_index config_index;
    bool config_committed;
    uint64_t cluster_id; /* the cluster's id (DIR/IDENTITY); 0 unknown */
};

/* Fills @out (code KV_OK) from @r's configuration in force: each member's
 * address is the configuration's, or else @fallback's (the --cluster map,
 * for configurations made before they carried addresses; may be NULL). */
void cmd_members_of(const struct raft *r,
                    const struct cmd_cluster *fallback,
                    struct cmd_members *out);
/* The address of member @id: the configuration's, else @fallback's; NULL
 * when neither knows it. Valid until the next change to @r. */
const char *cmd_member_address(const struct raft *r,
                               const struct cmd_cluster *fallback,
                               raft_id id,
                               char *buf,
                               size_t len);

/* The configuration a Cluster change @req asks of @cur, with the members'
 * addresses (from @cur, else @fallback, and @req's for an added member)
 * built into @table (RAFT_ADDRESSES_MAX bytes). Returns 0, or a gRPC
 * status (TRANSPORT_GRPC_*) with the reason in @why: ALREADY_EXISTS (an
 * added id is a member), NOT_FOUND (promoting or removing a non-member),
 * FAILED_PRECONDITION (promoting a voter, removing the last voter). */
int cmd_members_change(const struct raft_configuration *cur,
                       const struct cmd_cluster_request *req,
                       const struct cmd_cluster *fallback,
                       struct raft_configuration *next,
                       uint8_t *table,
                       char *why,
                       size_t why_len);

/* Encodes @m as a MembersResponse (free() the buffer). COMMON_ENOMEM. */
int cmd_members_encode(const struct cmd_members *m, uint8_t **out, size_t *len);
/* Decodes a MembersResponse. COMMON_EPARSE for bytes that are not one, a
 * code outside the known ones, more than RAFT_MAX_SERVERS members, a
 * member id of 0 or an address longer than RAFT_ADDRESS_MAX. */
int cmd_members_decode(const void *buf, size_t len, struct cmd_members *out);

#endif /* CMD_CMD_H */
