/*
 * A strict reader for small YAML configuration files (internal to the
 * harness): a tree of scalars, sequences and mappings in which every node
 * keeps where it was written, and typed readers that turn nodes into
 * integers, numbers, booleans, strings and field tables.
 *
 * Every failing call writes one message, "PATH:LINE:COLUMN: what is wrong"
 * (1-based, pointing at the node at fault), into the reader's error buffer
 * and returns a negative COMMON_E* code.
 *
 * What is accepted (the YAML 1.2 core schema, made stricter):
 * - one document at most; no anchors, aliases or tags; nesting at most
 *   HARNESS_YAML_DEPTH_MAX levels;
 * - integers: plain (unquoted) decimal, an optional sign, no leading zeros
 *   (YAML 1.1 reads 010 as octal), no underscores, nothing after the digits;
 * - numbers: plain decimal with an optional fraction and exponent (2, 0.5,
 *   .5, 1e3); no .inf, .nan, hexadecimal or underscores;
 * - booleans: plain true or false, nothing else;
 * - strings: any scalar, plain, quoted or block, without NUL characters.
 */
#ifndef HARNESS_YAML_TREE_H
#define HARNESS_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HARNESS_YAML_DEPTH_MAX 32

enum harness_ynode_kind {
    HARNESS_YSCALAR = 1,
    HARNESS_YSEQUENCE = 2,
    HARNESS_YMAPPING = 3,
};

struct harness_ynode
{
    enum harness_ynode_kind kind;
    unsigned line; /* 1-based */
    unsigned column;
    /* Scalars: a NUL-terminated copy of the value (which may itself hold
     * NUL characters from "\0" escapes: use len), and whether it was
     * written plain (unquoted, not a block scalar). */
    char *text;
    size_t len;
    bool plain;
    /* Sequences: the elements. Mappings: keys and values alternating
     * (items[2i] is a key, items[2i+1] its value). Owned. */
    struct harness_ynode **items;
    size_t n_items;
    size_t cap_items;
};

/* Where messages go. @path names the input in messages (borrowed); @err
 * may be NULL or @err_size 0 to drop messages. */
struct harness_yreader
{
    const char *path;
    char *err;
    size_t err_size;
};

/* Parses @len bytes at @text (borrowed; need not be NUL-terminated; NULL
 * is allowed when @len is 0) into a tree. On success *@root is the root
 * node, owned by the caller (harness_yaml_free), or NULL when the input
 * holds no document. Fails with COMMON_EPARSE (not YAML; libyaml's message
 * and position), COMMON_EINVAL (YAML this reader refuses: a second
 * document, an anchor, alias or tag, nesting too deep) or COMMON_ENOMEM. */
int harness_yaml_load(const struct harness_yreader *r,
                      const char *text,
                      size_t len,
                      struct harness_ynode **root);

/* Frees a tree; NULL is harmless. */
void harness_yaml_free(struct harness_ynode *node);

/* Writes "PATH:LINE:COLUMN: " and the formatted message; returns
 * COMMON_EINVAL. @node may be NULL: position 1:1. */
int harness_yaml_error(const struct harness_yreader *r,
                       const struct harness_ynode *node,
                       const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));

/* Writes "PATH: out of memory"; returns COMMON_ENOMEM. */
int harness_yaml_out_of_memory(const struct harness_yreader *r);

/* What a node is, for "got ..." in messages: "a sequence", "a mapping",
 * "nothing" (an empty plain scalar) or the scalar in single quotes
 * (escaped, at most 40 bytes of it), with "the quoted string " before it
 * when it was not plain. */
void harness_yaml_describe(const struct harness_ynode *node,
                           char *buf,
                           size_t size);

/* Whether @node is a scalar whose value is exactly the string @s. */
bool harness_yaml_is(const struct harness_ynode *node, const char *s);

/* One expected key of a mapping. The caller sets @key; the reader sets
 * @key_node and @value (both NULL when the key is absent). */
struct harness_yfield
{
    const char *key;
    const struct harness_ynode *key_node;
    const struct harness_ynode *value;
};

/* Checks that @map is a mapping whose keys are scalars, each one of the
 * @n_fields keys of @fields and none given twice, and fills @fields. @what
 * names the mapping in messages ("timing"); NULL for the top level. */
int harness_yaml_fields(const struct harness_yreader *r,
                        const struct harness_ynode *map,
                        const char *what,
                        struct harness_yfield *fields,
                        size_t n_fields);

/* "missing required field 'WHAT.KEY'" (or 'KEY' when @what is NULL) at
 * @map; returns COMMON_EINVAL. */
int harness_yaml_missing(const struct harness_yreader *r,
                         const struct harness_ynode *map,
                         const char *what,
                         const char *key);

/* Reads an integer in [@min, @max]. @what names the field in messages. */
int harness_yaml_uint(const struct harness_yreader *r,
                      const struct harness_ynode *node,
                      const char *what,
                      uint64_t min,
                      uint64_t max,
                      uint64_t *out);

/* Reads a number (integer or decimal fraction) between @lo and @hi, each
 * bound included unless its @*_open flag says otherwise; @hi may be
 * INFINITY (then @hi_open must be true and no upper bound applies). */
int harness_yaml_number(const struct harness_yreader *r,
                        const struct harness_ynode *node,
                        const char *what,
                        double lo,
                        bool lo_open,
                        double hi,
                        bool hi_open,
                        double *out);

/* Reads true or false. */
int harness_yaml_bool(const struct harness_yreader *r,
                      const struct harness_ynode *node,
                      const char *what,
                      bool *out);

/* Reads a string of at most @max_len bytes without NUL characters (and,
 * when @single_line, without any control character). *@text is the node's
 * own NUL-terminated copy, valid as long as the tree. */
int harness_yaml_string(const struct harness_yreader *r,
                        const struct harness_ynode *node,
                        const char *what,
                        size_t max_len,
                        bool single_line,
                        const char **text);

/* Reads a scalar (plain or quoted) equal to one of the @n_choices strings
 * of @choices and sets *@index to its position. */
int harness_yaml_choice(const struct harness_yreader *r,
                        const struct harness_ynode *node,
                        const char *what,
                        const char *const *choices,
                        size_t n_choices,
                        size_t *index);

#endif /* HARNESS_YAML_TREE_H */
