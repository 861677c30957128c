/* handshake-newstyle.c: (fixed) newstyle option haggling.
 *
 * Server greeting, client flags, then up to MAX_NR_OPTIONS options,
 * each answered (fixed newstyle) with one or more replies.  The loop
 * ends with EXPORT_NAME or a successful GO (transmission starts), or
 * with ABORT or an error (the connection is dropped).
 *
 * Rule for every option: its payload is always consumed, whether the
 * option is understood or not, so the client and the server never get
 * out of step.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <endian.h>

#include "internal.h"

static const char *
name_of_nbd_opt (uint32_t option)
{
  switch (option) {
  case NBD_OPT_EXPORT_NAME: return "NBD_OPT_EXPORT_NAME";
  case NBD_OPT_ABORT: return "NBD_OPT_ABORT";
  case NBD_OPT_LIST: return "NBD_OPT_LIST";
  case NBD_OPT_PEEK_EXPORT: return "NBD_OPT_PEEK_EXPORT";
  case NBD_OPT_STARTTLS: return "NBD_OPT_STARTTLS";
  case NBD_OPT_INFO: return "NBD_OPT_INFO";
  case NBD_OPT_GO: return "NBD_OPT_GO";
  case NBD_OPT_STRUCTURED_REPLY: return "NBD_OPT_STRUCTURED_REPLY";
  case NBD_OPT_LIST_META_CONTEXT: return "NBD_OPT_LIST_META_CONTEXT";
  case NBD_OPT_SET_META_CONTEXT: return "NBD_OPT_SET_META_CONTEXT";
  case NBD_OPT_EXTENDED_HEADERS: return "NBD_OPT_EXTENDED_HEADERS";
  default: return "unknown option";
  }
}

static const char *
name_of_nbd_rep (uint32_t reply)
{
  switch (reply) {
  case NBD_REP_ACK: return "NBD_REP_ACK";
  case NBD_REP_SERVER: return "NBD_REP_SERVER";
  case NBD_REP_INFO: return "NBD_REP_INFO";
  case NBD_REP_META_CONTEXT: return "NBD_REP_META_CONTEXT";
  case NBD_REP_ERR_UNSUP: return "NBD_REP_ERR_UNSUP";
  case NBD_REP_ERR_POLICY: return "NBD_REP_ERR_POLICY";
  case NBD_REP_ERR_INVALID: return "NBD_REP_ERR_INVALID";
  case NBD_REP_ERR_PLATFORM: return "NBD_REP_ERR_PLATFORM";
  case NBD_REP_ERR_TLS_REQD: return "NBD_REP_ERR_TLS_REQD";
  case NBD_REP_ERR_UNKNOWN: return "NBD_REP_ERR_UNKNOWN";
  case NBD_REP_ERR_SHUTDOWN: return "NBD_REP_ERR_SHUTDOWN";
  case NBD_REP_ERR_BLOCK_SIZE_REQD: return "NBD_REP_ERR_BLOCK_SIZE_REQD";
  case NBD_REP_ERR_TOO_BIG: return "NBD_REP_ERR_TOO_BIG";
  default: return "unknown reply";
  }
}

/* Send one option reply: 20-byte header plus up to two payload pieces,
 * in one write.
 */
static int
send_reply2 (struct connection *conn, uint32_t option, uint32_t reply,
             const void *p1, size_t len1, const void *p2, size_t len2)
{
  struct nbd_fixed_new_option_reply hdr;
  struct iovec iov[3];
  int n = 1;

  hdr.magic = htobe64 (NBD_REP_MAGIC);
  hdr.option = htobe32 (option);
  hdr.reply = htobe32 (reply);
  hdr.replylen = htobe32 (len1 + len2);
  iov[0].iov_base = &hdr;
  iov[0].iov_len = sizeof hdr;
  if (len1) {
    iov[n].iov_base = (void *) p1;
    iov[n].iov_len = len1;
    n++;
  }
  if (len2) {
    iov[n].iov_base = (void *) p2;
    iov[n].iov_len = len2;
    n++;
  }
  if (reply == NBD_REP_ACK || (reply & NBD_REP_ERR (0)))
    debug ("replying to %s with %s",
           name_of_nbd_opt (option), name_of_nbd_rep (reply));
  return conn_send_iov (conn, iov, n);
}

static int
send_reply (struct connection *conn, uint32_t option, uint32_t reply)
{
  return send_reply2 (conn, option, reply, NULL, 0, NULL, 0);
}

/* An error reply with a human-readable message for the client. */
static int
send_error (struct connection *conn, uint32_t option, uint32_t reply,
            const char *msg)
{
  debug ("%s: %s", name_of_nbd_opt (option), msg);
  return send_reply2 (conn, option, reply, msg, strlen (msg), NULL, 0);
}

static int
send_info_export (struct connection *conn, uint32_t option,
                  uint64_t exportsize, uint16_t eflags)
{
  struct {
    uint16_t type;
    uint64_t size;
    uint16_t eflags;
  } __attribute__ ((packed)) info;

  info.type = htobe16 (NBD_INFO_EXPORT);
  info.size = htobe64 (exportsize);
  info.eflags = htobe16 (eflags);
  return send_reply2 (conn, option, NBD_REP_INFO, &info, sizeof info,
                      NULL, 0);
}

static int
send_info_string (struct connection *conn, uint32_t option, uint16_t type,
                  const char *str)
{
  uint16_t be_type = htobe16 (type);

  return send_reply2 (conn, option, NBD_REP_INFO, &be_type, sizeof be_type,
                      str, strlen (str));
}

static int
send_info_block_size (struct connection *conn, uint32_t option)
{
  struct {
    uint16_t type;
    uint32_t minimum, preferred, maximum;
  } __attribute__ ((packed)) info;

  info.type = htobe16 (NBD_INFO_BLOCK_SIZE);
  info.minimum = htobe32 (conn->top->block_minimum);
  info.preferred = htobe32 (conn->top->block_preferred);
  info.maximum = htobe32 (conn->top->block_maximum);
  return send_reply2 (conn, option, NBD_REP_INFO, &info, sizeof info,
                      NULL, 0);
}

static int
send_meta_context (struct connection *conn, uint32_t option,
                   uint32_t context_id, const char *name)
{
  uint32_t be_id = htobe32 (context_id);

  debug ("%s: replying with %s id %" PRIu32,
         name_of_nbd_opt (option), name, context_id);
  return send_reply2 (conn, option, NBD_REP_META_CONTEXT,
                      &be_id, sizeof be_id, name, strlen (name));
}

/* Read an option's payload into a new buffer (with a terminating NUL
 * for convenience).
 */
static char *
recv_payload (struct connection *conn, uint32_t optlen)
{
  char *data = malloc ((size_t) optlen + 1);

  if (data == NULL) {
    nbdkit_error ("malloc: %m");
    return NULL;
  }
  if (optlen > 0 && conn_recv_full (conn, data, optlen) != 1) {
    nbdkit_error ("could not read the option payload");
    free (data);
    return NULL;
  }
  data[optlen] = '\0';
  return data;
}

/* Copy an export name from the wire, rejecting embedded NULs. */
static char *
copy_name (const char *p, uint32_t len)
{
  if (memchr (p, '\0', len) != NULL)
    return NULL;
  return strndup (p, len);
}

/* EXPORT_NAME: the whole payload is the name.  There is no way to
 * report an error except by hanging up.
 */
static int
option_export_name (struct connection *conn, uint32_t optlen)
{
  CLEANUP_FREE char *data = NULL;
  CLEANUP_FREE char *name = NULL;
  struct nbd_export_name_reply reply;
  uint64_t exportsize;
  uint16_t eflags;
  size_t len;

  if (optlen > NBD_MAX_STRING) {
    nbdkit_error ("%s: export name too long (%" PRIu32 " bytes)",
                  name_of_nbd_opt (NBD_OPT_EXPORT_NAME), optlen);
    return -1;
  }
  data = recv_payload (conn, optlen);
  if (data == NULL)
    return -1;
  name = copy_name (data, optlen);
  if (name == NULL) {
    nbdkit_error ("%s: invalid export name", "NBD_OPT_EXPORT_NAME");
    return -1;
  }
  if (config.verbose) {
    CLEANUP_FREE char *ename = log_escape (name, strlen (name));

    debug ("newstyle negotiation: %s: client requested export '%s'",
           "NBD_OPT_EXPORT_NAME", LOG_STR (ename));
  }

  if (conn->meta_base_allocation && conn->meta_exportname &&
      strcmp (conn->meta_exportname, name) != 0)
    conn->meta_base_allocation = false;

  if (protocol_common_open (conn, name, &exportsize, &eflags) == -1)
    return -1;

  memset (&reply, 0, sizeof reply);
  reply.exportsize = htobe64 (exportsize);
  reply.eflags = htobe16 (eflags);
  len = conn->no_zeroes ? offsetof (struct nbd_export_name_reply, zeroes)
    : sizeof reply;
  if (conn_send_full (conn, &reply, len) == -1)
    return -1;
  return 0;
}

/* INFO and GO.  Returns 0 if GO succeeded (start transmission), 1 to
 * keep haggling, -1 to hang up.
 */
static int
option_info_go (struct connection *conn, uint32_t option, uint32_t optlen)
{
  CLEANUP_FREE char *data = NULL;
  CLEANUP_FREE char *name = NULL;
  uint32_t namelen;
  uint16_t nrinfos, i;
  bool want_name = false, want_description = false, want_block_size = false;
  uint64_t exportsize;
  uint16_t eflags;

  if (optlen > 4 + NBD_MAX_STRING + 2 + 2 * 65535) {
    if (conn_recv_discard (conn, optlen) == -1)
      return -1;
    return send_error (conn, option, NBD_REP_ERR_INVALID,
                       "option payload too long") == -1 ? -1 : 1;
  }
  data = recv_payload (conn, optlen);
  if (data == NULL)
    return -1;

  if (optlen < 6)
    goto invalid;
  memcpy (&namelen, data, 4);
  namelen = be32toh (namelen);
  if (namelen > NBD_MAX_STRING || namelen > optlen - 6)
    goto invalid;
  memcpy (&nrinfos, data + 4 + namelen, 2);
  nrinfos = be16toh (nrinfos);
  if (optlen != 4 + namelen + 2 + 2 * (uint32_t) nrinfos)
    goto invalid;
  name = copy_name (data + 4, namelen);
  if (name == NULL)
    goto invalid;

  if (config.verbose) {
    CLEANUP_FREE char *ename = log_escape (name, strlen (name));

    debug ("newstyle negotiation: %s: client requested export '%s'",
           name_of_nbd_opt (option), LOG_STR (ename));
  }
  for (i = 0; i < nrinfos; ++i) {
    uint16_t type;

    memcpy (&type, data + 4 + namelen + 2 + 2 * i, 2);
    switch (be16toh (type)) {
    case NBD_INFO_NAME: want_name = true; break;
    case NBD_INFO_DESCRIPTION: want_description = true; break;
    case NBD_INFO_BLOCK_SIZE: want_block_size = true; break;
    default:
      /* NBD_INFO_EXPORT is always sent; unknown types are ignored. */
      break;
    }
  }

  /* Contexts chosen for another export do not apply to this one. */
  if (conn->meta_base_allocation && conn->meta_exportname &&
      strcmp (conn->meta_exportname, name) != 0) {
    if (config.verbose) {
      CLEANUP_FREE char *emeta =
        log_escape (conn->meta_exportname, strlen (conn->meta_exportname));
      CLEANUP_FREE char *ename = log_escape (name, strlen (name));

      debug ("newstyle negotiation: meta contexts were set for export '%s', "
             "not '%s': discarding them", LOG_STR (emeta), LOG_STR (ename));
    }
    conn->meta_base_allocation = false;
  }

  if (protocol_common_open (conn, name, &exportsize, &eflags) == -1)
    return send_error (conn, option, NBD_REP_ERR_UNKNOWN,
                       "export not available") == -1 ? -1 : 1;

  if (send_info_export (conn, option, exportsize, eflags) == -1)
    goto hangup;

  if (want_name &&
      send_info_string (conn, option, NBD_INFO_NAME, conn->exportname) == -1)
    goto hangup;

  if (want_block_size) {
    uint32_t mn, pr, mx;
    int r;

    lock_request ();
    r = backend_block_size (conn->top, &mn, &pr, &mx);
    unlock_request ();
    if (r == -1) {
      if (protocol_common_close (conn) == -1)
        return -1;
      return send_error (conn, option, NBD_REP_ERR_PLATFORM,
                         "could not get block size information") == -1
        ? -1 : 1;
    }
    if (mn != 0 || pr != 0 || mx != 0) {
      if (send_info_block_size (conn, option) == -1)
        goto hangup;
    }
    else
      debug ("%s: NBD_INFO_BLOCK_SIZE: client requested but the plugin "
             "gave no block size information, ignoring client request",
             name_of_nbd_opt (option));
  }

  if (want_description) {
    const char *desc;

    lock_request ();
    desc = backend_export_description (conn->top);
    unlock_request ();
    if (desc && send_info_string (conn, option, NBD_INFO_DESCRIPTION,
                                  desc) == -1)
      goto hangup;
  }

  if (send_reply (conn, option, NBD_REP_ACK) == -1)
    goto hangup;

  if (option == NBD_OPT_INFO)
    return protocol_common_close (conn) == -1 ? -1 : 1;
  return 0;

 hangup:
  return -1;

 invalid:
  return send_error (conn, option, NBD_REP_ERR_INVALID,
                     "malformed option payload") == -1 ? -1 : 1;
}

static int
option_list (struct connection *conn, uint32_t optlen)
{
  struct nbdkit_exports *exports;
  size_t i, n;
  int r;

  if (optlen != 0) {
    if (conn_recv_discard (conn, optlen) == -1)
      return -1;
    return send_error (conn, NBD_OPT_LIST, NBD_REP_ERR_INVALID,
                       "NBD_OPT_LIST must not have a payload");
  }

  exports = nbdkit_exports_new ();
  if (exports == NULL)
    return send_reply (conn, NBD_OPT_LIST, NBD_REP_ERR_PLATFORM);

  lock_request ();
  r = backend_list_exports (top, config.readonly, exports);
  unlock_request ();
  if (r == -1) {
    nbdkit_exports_free (exports);
    return send_error (conn, NBD_OPT_LIST, NBD_REP_ERR_PLATFORM,
                       "could not list exports");
  }

  n = nbdkit_exports_count (exports);
  for (i = 0; i < n; ++i) {
    const struct nbdkit_export e = nbdkit_get_export (exports, i);
    uint32_t be_len = htobe32 (strlen (e.name));
    size_t desclen = e.description ? strlen (e.description) : 0;
    /* REP_SERVER: u32 name length, name, description. */
    struct nbd_fixed_new_option_reply hdr;
    struct iovec iov[4];

    hdr.magic = htobe64 (NBD_REP_MAGIC);
    hdr.option = htobe32 (NBD_OPT_LIST);
    hdr.reply = htobe32 (NBD_REP_SERVER);
    hdr.replylen = htobe32 (4 + strlen (e.name) + desclen);
    iov[0].iov_base = &hdr;
    iov[0].iov_len = sizeof hdr;
    iov[1].iov_base = &be_len;
    iov[1].iov_len = 4;
    iov[2].iov_base = e.name;
    iov[2].iov_len = strlen (e.name);
    iov[3].iov_base = e.description;
    iov[3].iov_len = desclen;
    if (conn_send_iov (conn, iov, 4) == -1) {
      nbdkit_exports_free (exports);
      return -1;
    }
  }
  nbdkit_exports_free (exports);
  return send_reply (conn, NBD_OPT_LIST, NBD_REP_ACK);
}

/* LIST_META_CONTEXT and SET_META_CONTEXT.  We know one context,
 * base:allocation, with the fixed id 1.
 */
static int
option_meta_context (struct connection *conn, uint32_t option,
                     uint32_t optlen)
{
  CLEANUP_FREE char *data = NULL;
  CLEANUP_FREE char *name = NULL;
  uint32_t namelen, nr_queries, i, pos;
  const bool set = option == NBD_OPT_SET_META_CONTEXT;
  bool selected = false;

  if (set && !conn->structured_replies) {
    if (conn_recv_discard (conn, optlen) == -1)
      return -1;
    return send_error (conn, option, NBD_REP_ERR_INVALID,
                       "structured replies must be negotiated first");
  }
  if (optlen > MAX_OPTION_LENGTH) {
    nbdkit_error ("%s: option payload too long", name_of_nbd_opt (option));
    return -1;
  }
  data = recv_payload (conn, optlen);
  if (data == NULL)
    return -1;

  /* Check the whole payload before answering anything. */
  if (optlen < 8)
    goto invalid;
  memcpy (&namelen, data, 4);
  namelen = be32toh (namelen);
  if (namelen > NBD_MAX_STRING || namelen > optlen - 8)
    goto invalid;
  name = copy_name (data + 4, namelen);
  if (name == NULL)
    goto invalid;
  memcpy (&nr_queries, data + 4 + namelen, 4);
  nr_queries = be32toh (nr_queries);
  pos = 8 + namelen;
  for (i = 0; i < nr_queries; ++i) {
    uint32_t qlen;

    if (optlen - pos < 4)
      goto invalid;
    memcpy (&qlen, data + pos, 4);
    qlen = be32toh (qlen);
    if (qlen > NBD_MAX_STRING || qlen > optlen - pos - 4)
      goto invalid;
    pos += 4 + qlen;
  }
  if (pos != optlen)
    goto invalid;

  if (config.verbose) {
    CLEANUP_FREE char *ename = log_escape (name, strlen (name));

    debug ("newstyle negotiation: %s: client requested export '%s', "
           "query count %" PRIu32, name_of_nbd_opt (option), LOG_STR (ename),
           nr_queries);
  }

  if (set)
    conn->meta_base_allocation = false;

  if (!set && nr_queries == 0) {
    if (send_meta_context (conn, option, 0, "base:allocation") == -1)
      return -1;
  }

  pos = 8 + namelen;
  for (i = 0; i < nr_queries; ++i) {
    uint32_t qlen;
    const char *q;

    memcpy (&qlen, data + pos, 4);
    qlen = be32toh (qlen);
    q = data + pos + 4;
    pos += 4 + qlen;

    if (set) {
      if (qlen == 15 && memcmp (q, "base:allocation", 15) == 0 &&
          !selected) {
        selected = true;
        if (send_meta_context (conn, option, 1, "base:allocation") == -1)
          return -1;
      }
    }
    else {
      if ((qlen == 5 && memcmp (q, "base:", 5) == 0) ||
          (qlen == 15 && memcmp (q, "base:allocation", 15) == 0)) {
        if (send_meta_context (conn, option, 0, "base:allocation") == -1)
          return -1;
      }
    }
  }

  if (set) {
    conn->meta_base_allocation = selected;
    free (conn->meta_exportname);
    conn->meta_exportname = name;
    name = NULL;
  }
  return send_reply (conn, option, NBD_REP_ACK);

 invalid:
  return send_error (conn, option, NBD_REP_ERR_INVALID,
                     "malformed option payload");
}

/* Handle one option.  Returns 1 to continue, 0 to start transmission,
 * -1 to hang up.
 */
static int
negotiate_option (struct connection *conn)
{
  struct nbd_new_option hdr;
  uint32_t option, optlen;
  int r;

  if (conn_recv_full (conn, &hdr, sizeof hdr) != 1) {
    debug ("newstyle negotiation: client closed the connection");
    return -1;
  }
  if (be64toh (hdr.version) != NBD_NEW_VERSION) {
    nbdkit_error ("newstyle negotiation: unknown option version 0x%"
                  PRIx64 ", expecting 0x%" PRIx64,
                  be64toh (hdr.version), NBD_NEW_VERSION);
    return -1;
  }
  option = be32toh (hdr.option);
  optlen = be32toh (hdr.optlen);
  if (optlen > MAX_OPTION_LENGTH) {
    nbdkit_error ("newstyle negotiation: %s: option length %" PRIu32
                  " is too long", name_of_nbd_opt (option), optlen);
    return -1;
  }

  debug ("newstyle negotiation: %s: length %" PRIu32,
         name_of_nbd_opt (option), optlen);

  /* Without fixed newstyle the client cannot parse replies to any
   * option but EXPORT_NAME.
   */
  if (!conn->fixed_newstyle && option != NBD_OPT_EXPORT_NAME) {
    if (conn_recv_discard (conn, optlen) == -1)
      return -1;
    if (send_reply (conn, option, NBD_REP_ERR_INVALID) == -1)
      return -1;
    return 1;
  }

  switch (option) {
  case NBD_OPT_EXPORT_NAME:
    return option_export_name (conn, optlen);

  case NBD_OPT_ABORT:
    if (conn_recv_discard (conn, optlen) == 0)
      send_reply (conn, option, NBD_REP_ACK);
    debug ("client sent %s to abort the connection",
           name_of_nbd_opt (option));
    return -1;

  case NBD_OPT_LIST:
    r = option_list (conn, optlen);
    return r == -1 ? -1 : 1;

  case NBD_OPT_STARTTLS:
    /* STARTTLS takes no data (else ERR_INVALID).  Without TLS (there
     * is no TLS support yet, which is --tls=off) the protocol allows
     * ERR_POLICY or ERR_UNSUP; ERR_UNSUP is for options a server does
     * not know, so we say ERR_POLICY, as Debian's nbdkit 1.32.5 does.
     */
    if (conn_recv_discard (conn, optlen) == -1)
      return -1;
    if (optlen != 0)
      r = send_error (conn, option, NBD_REP_ERR_INVALID,
                      "NBD_OPT_STARTTLS must not have a payload");
    else
      r = send_error (conn, option, NBD_REP_ERR_POLICY,
                      "TLS is not enabled on this server");
    return r == -1 ? -1 : 1;

  case NBD_OPT_INFO:
  case NBD_OPT_GO:
    return option_info_go (conn, option, optlen);

  case NBD_OPT_STRUCTURED_REPLY:
    if (optlen != 0) {
      if (conn_recv_discard (conn, optlen) == -1)
        return -1;
      r = send_error (conn, option, NBD_REP_ERR_INVALID,
                      "NBD_OPT_STRUCTURED_REPLY must not have a payload");
    }
    else if (config.no_sr)
      r = send_reply (conn, option, NBD_REP_ERR_UNSUP);
    else {
      debug ("newstyle negotiation: %s: client requested structured "
             "replies", name_of_nbd_opt (option));
      conn->structured_replies = true;
      r = send_reply (conn, option, NBD_REP_ACK);
    }
    return r == -1 ? -1 : 1;

  case NBD_OPT_LIST_META_CONTEXT:
  case NBD_OPT_SET_META_CONTEXT:
    r = option_meta_context (conn, option, optlen);
    return r == -1 ? -1 : 1;

  default:
    if (conn_recv_discard (conn, optlen) == -1)
      return -1;
    r = send_error (conn, option, NBD_REP_ERR_UNSUP, "unknown option");
    return r == -1 ? -1 : 1;
  }
}

int
protocol_handshake_newstyle (struct connection *conn)
{
  struct nbd_new_handshake greeting;
  uint16_t gflags;
  uint32_t cflags;
  unsigned nr_options;

  gflags = (NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES) &
    config.mask_handshake;
  debug ("newstyle negotiation: flags: global 0x%x", gflags);

  greeting.nbdmagic = htobe64 (NBD_MAGIC);
  greeting.version = htobe64 (NBD_NEW_VERSION);
  greeting.gflags = htobe16 (gflags);
  if (conn_send_full (conn, &greeting, sizeof greeting) == -1) {
    debug ("newstyle negotiation: could not send the greeting");
    return -1;
  }

  if (conn_recv_full (conn, &cflags, sizeof cflags) != 1) {
    debug ("newstyle negotiation: client closed the connection");
    return -1;
  }
  cflags = be32toh (cflags);
  debug ("newstyle negotiation: client flags: 0x%x", cflags);
  if (cflags & ~(uint32_t) gflags) {
    nbdkit_error ("newstyle negotiation: client requested unexpected "
                  "flags 0x%x", cflags);
    return -1;
  }
  conn->fixed_newstyle = cflags & NBD_FLAG_C_FIXED_NEWSTYLE;
  conn->no_zeroes = cflags & NBD_FLAG_C_NO_ZEROES;

  for (nr_options = 0; nr_options < MAX_NR_OPTIONS; ++nr_options) {
    int r = negotiate_option (conn);

    if (r <= 0)
      return r;
    if (quit || conn_get_status (conn) < STATUS_ACTIVE)
      return -1;
  }

  nbdkit_error ("newstyle negotiation: client spent too much time "
                "negotiating without selecting an export");
  return -1;
}
