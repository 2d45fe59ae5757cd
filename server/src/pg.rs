//! The PostgreSQL wire protocol endpoint (`--pg-addr`, default `127.0.0.1:5433`), on the
//! `pgwire` crate, so that psql, Grafana's PostgreSQL data source and every language's driver
//! talk to Strata unchanged.
//!
//! A statement travels like this:
//!
//! ```text
//!   Query "SELECT ...; SET x = 1"  (simple)      Parse/Bind/Execute "... $1 ..." (extended)
//!        |                                             |
//!        | params::split_statements                    | params::substitute: each $n becomes
//!        v                                             v an escaped, typed literal
//!   one statement's text
//!        |
//!        | session::answer  SET / SHOW / BEGIN / COMMIT / DISCARD ... answered here;
//!        |                  current_setting('x') of a setting the session SET: its value
//!        | catalog::rewrite the catalog queries of psql, Grafana and SQLAlchemy, narrowly
//!        |                  rewritten
//!        | copy::parse      COPY ... TO STDOUT: its query, and the COPY format
//!        v
//!   crate::statement: admitted (the concurrent-query limit), registered (system.queries),
//!        |            authorized, started on the blocking pool under the query limits
//!        v
//!   encode (on the blocking pool): each batch -> DataRows (text or binary per column), or
//!        |   COPY lines (copy::CopyWriter), sent through a bounded channel; sqlstate: errors
//!        v
//!   the connection streams the rows as they come: simple queries whole, one statement
//!   after the other; extended Execute up to its row limit, then PortalSuspended, and the next
//!   Execute of the same portal goes on where it stopped
//! ```
//!
//! A CancelRequest (or the client going away) drops the statement's channel, which cancels it.
//!
//! Authentication is one seam: [`PasswordCheck`]. Without one every user is trusted (the
//! default); with one the client is asked for a cleartext password, which the callback checks.

mod catalog;
mod copy;
mod encode;
mod params;
mod session;
mod sqlstate;

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use futures::{stream, Sink, SinkExt, StreamExt};
use pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::portal::{Format, Portal, PortalExecutionState};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    CopyResponse, DescribePortalResponse, DescribeStatementResponse, FieldFormat, FieldInfo,
    QueryResponse, Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionManager, PgWireConnectionState, PgWireServerHandlers,
    PidSecretKeyGenerator, Type, DEFAULT_NAME,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::copy::{CopyData, CopyDone, CopyOutResponse};
use pgwire::messages::data::DataRow;
use pgwire::messages::extendedquery::{Execute, PortalSuspended};
use pgwire::messages::response::EmptyQueryResponse;
use pgwire::messages::simplequery::Query;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::auth::{Auth, Principal};
use crate::config::Config;
use crate::error::ApiError;
use crate::statement::{self, Admitted, Protocol, Request, Statements};

/// The most connections served at once; more are refused (closed at once).
pub const CONNECTIONS_MAX: usize = 1024;

/// A result batch is encoded this many rows at a time (one message on the channel).
const ENCODE_ROWS: usize = 4096;

/// Encoded chunks in flight between a statement and its connection.
const CHANNEL_CHUNKS: usize = 4;

/// `--pg-addr`: an address, or `off` (`None`).
#[derive(Debug, Clone, Copy)]
pub struct PgAddr(pub Option<SocketAddr>);

/// Parses `--pg-addr`: an address, or `off`.
pub fn parse_addr(s: &str) -> Result<PgAddr, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(PgAddr(None));
    }
    s.parse()
        .map(|a| PgAddr(Some(a)))
        .map_err(|e| format!("expected HOST:PORT or off, got {s}: {e}"))
}

/// Binds `addr` and serves PostgreSQL connections on the current runtime until the process
/// ends, running statements through `statements` (shared with HTTP); returns the bound
/// address.
pub async fn start(
    addr: SocketAddr,
    config: Arc<Config>,
    statements: Arc<Statements>,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let manager = Arc::new(ConnectionManager::new());
    let tls = config.tls.clone().map(pgwire::tokio::TlsAcceptor::from);
    let handler = Arc::new(Handler {
        auth: config.auth.clone(),
        statements,
        parser: Arc::new(Parser),
        manager: manager.clone(),
    });
    let handlers = Arc::new(Handlers {
        cancel: Arc::new(DefaultCancelHandler::new(manager)),
        startup: Arc::new(Startup::new(handler.clone())),
        handler,
    });
    let open = Arc::new(AtomicUsize::new(0));
    tracing::info!("listening on postgresql://{local}");
    tokio::spawn(async move {
        loop {
            let (socket, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "pg accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            if open.fetch_add(1, Ordering::Relaxed) >= CONNECTIONS_MAX {
                open.fetch_sub(1, Ordering::Relaxed);
                tracing::warn!(%peer, "pg connection refused: {CONNECTIONS_MAX} open already");
                continue;
            }
            let handlers = handlers.clone();
            let open = open.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                // Freed on drop, so that a connection whose task unwinds still gives its slot
                // back: pgwire 0.42 panics on some malformed frontend messages (a password
                // message shorter than its header, a Bind or Parse cut short; fuzz target
                // pg_frontend, docs/fuzzing.md). Before, each such connection leaked a slot
                // and CONNECTIONS_MAX of them closed the endpoint to everyone.
                let _slot = ConnectionSlot(open);
                if let Err(e) = pgwire::tokio::process_socket(socket, tls, handlers).await {
                    tracing::debug!(%peer, error = %e, "pg connection ended with an error");
                }
            });
        }
    });
    Ok(local)
}

/// One of the [`CONNECTIONS_MAX`] connection slots, taken when a connection is accepted and
/// given back when this is dropped: when the connection ends, or when its task unwinds.
struct ConnectionSlot(Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Handlers {
    handler: Arc<Handler>,
    startup: Arc<Startup>,
    cancel: Arc<DefaultCancelHandler>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.handler.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.handler.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        self.cancel.clone()
    }
}

/// The server parameters reported at start-up: PostgreSQL 16's, with a version that says Strata.
fn server_parameters() -> DefaultServerParameterProvider {
    let mut p = DefaultServerParameterProvider::default();
    p.server_version = session::SERVER_VERSION.to_string();
    p
}

/// The start-up phase: trust, or a cleartext password checked by [`PasswordCheck`].
struct Startup {
    handler: Arc<Handler>,
    pids: pgwire::api::RandomPidSecretKeyGenerator,
    password:
        Option<CleartextPasswordAuthStartupHandler<CheckSource, DefaultServerParameterProvider>>,
}

impl Startup {
    fn new(handler: Arc<Handler>) -> Startup {
        let password = handler.auth.enabled().then(|| {
            CleartextPasswordAuthStartupHandler::new(
                CheckSource(handler.auth.clone()),
                server_parameters(),
            )
            .with_connection_manager(handler.manager.clone())
        });
        Startup {
            handler,
            pids: Default::default(),
            password,
        }
    }
}

/// The server's tokens as pgwire's [`AuthSource`]: the password is a token.
struct CheckSource(Auth);

impl Debug for CheckSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckSource")
    }
}

#[async_trait]
impl AuthSource for CheckSource {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        // Only verify_password is used: the callback decides.
        Err(PgWireError::ApiError(
            "passwords are verified, not looked up".into(),
        ))
    }

    async fn verify_password(
        &self,
        login: &LoginInfo,
        presented_password: &[u8],
    ) -> PgWireResult<Option<()>> {
        let user = login.user().unwrap_or_default();
        let password = std::str::from_utf8(presented_password).unwrap_or_default();
        let password = password.trim_end_matches('\0');
        if self.0.check_password(user, password).is_ok() {
            Ok(None)
        } else {
            Err(PgWireError::InvalidPassword(user.to_string()))
        }
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(password) = &self.password {
            // Remember the token's principal for the statements of this connection (pgwire's
            // handler verifies the same password and closes the connection when it is wrong).
            let message = match message {
                PgWireFrontendMessage::PasswordMessageFamily(family) => {
                    let given = family.into_password()?;
                    let user = client.metadata().get("user").cloned().unwrap_or_default();
                    let token = given.password.trim_end_matches('\0');
                    if let Ok(principal) = self.handler.auth.check_password(&user, token) {
                        client.session_extensions().insert::<Principal>(principal);
                    }
                    PgWireFrontendMessage::PasswordMessageFamily(
                        pgwire::messages::startup::PasswordMessageFamily::Password(given),
                    )
                }
                other => other,
            };
            return password.on_startup(client, message).await;
        }
        // Trust: no authentication, Strata's server parameters, a cancel key per connection.
        if let PgWireFrontendMessage::Startup(ref startup) = message {
            pgwire::api::auth::protocol_negotiation(client, startup).await?;
            pgwire::api::auth::save_startup_parameters_to_metadata(client, startup);
            let (pid, secret_key) = self.pids.generate(client);
            client.set_pid_and_secret_key(pid, secret_key.clone());
            let (handle, guard) = self.handler.manager.register(pid, secret_key);
            client
                .session_extensions()
                .insert::<Arc<pgwire::api::ConnectionHandle>>(handle);
            client
                .session_extensions()
                .insert::<pgwire::api::ConnectionGuard>(guard);
            pgwire::api::auth::finish_authentication(client, &server_parameters()).await?;
        }
        Ok(())
    }
}

/// Runs statements for every connection.
struct Handler {
    auth: Auth,
    statements: Arc<Statements>,
    parser: Arc<Parser>,
    manager: Arc<ConnectionManager>,
}

/// What one statement answered.
enum Answer {
    /// Rows held in memory (session statements: a few rows).
    Rows {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    },
    /// Rows of a running statement, encoded as they are produced.
    Stream {
        schema: SchemaRef,
        formats: Vec<FieldFormat>,
        rows: statement::Receiver<Chunk>,
    },
    /// The rows of a running `COPY ... TO STDOUT`, as COPY lines (one per row).
    Copy {
        /// The number of columns.
        columns: usize,
        /// The header line, when the format has one.
        header: Option<bytes::Bytes>,
        /// The lines, as they are produced.
        rows: statement::Receiver<Chunk>,
    },
    /// A command tag without rows.
    Tag(Tag),
    /// `BEGIN`.
    Begin,
    /// `COMMIT` / `ROLLBACK`.
    End(&'static str),
}

/// What a statement's producer (on the blocking pool) sends its connection.
enum Chunk {
    /// The statement started: its schema and each column's format.
    Start(SchemaRef, Vec<FieldFormat>),
    /// Encoded rows, in order.
    Rows(Vec<DataRow>),
    /// Rows as COPY lines, in order.
    Lines(Vec<bytes::Bytes>),
    /// A batch as it is (statements answered by a command tag: `INSERT`'s count).
    Batch(RecordBatch),
    /// The statement failed.
    Error(ApiError),
    /// The result is complete.
    End,
}

/// Each result column's format: one code for every column, or one per column (PostgreSQL's
/// rule; any other count is a protocol error).
fn column_formats(format: &Format, columns: usize) -> Result<Vec<FieldFormat>, ApiError> {
    if let Format::Individual(codes) = format {
        if codes.len() != columns {
            return Err(ApiError::BadRequest {
                code: "INVALID_REQUEST",
                message: format!(
                    "Bind gave {} result format codes for {columns} columns; give one for all \
                     columns or one per column",
                    codes.len()
                ),
            });
        }
    }
    Ok((0..columns).map(|i| format.format_for(i)).collect())
}

/// What a statement's producer sends its connection.
#[derive(Clone)]
enum Output {
    /// `DataRow`s, each column in the format the client asked for.
    Rows(Format),
    /// The batches as they are (statements answered by a command tag).
    Tagged,
    /// COPY lines in this format.
    Copy(copy::CopyFormat),
}

/// Runs one admitted statement on the blocking pool: starts it, encodes its batches (a slice of
/// [`ENCODE_ROWS`] rows at a time: `DataRow`s, or COPY lines) and sends them; statements
/// answered by a command tag send their batches as they are.
fn produce(admitted: Admitted, output: Output, sender: &statement::Sender<Chunk>) {
    let (format, tagged) = match &output {
        Output::Rows(format) => (format.clone(), false),
        Output::Tagged => (Format::UnifiedText, true),
        Output::Copy(_) => (Format::UnifiedText, false),
    };
    let mut running = match admitted.start() {
        Ok(running) => running,
        Err(e) => {
            let _ = sender.send_last(Chunk::Error(e));
            return;
        }
    };
    let fail = |running: statement::Running, e: ApiError| {
        running.finish(Some(&e));
        let _ = sender.send_last(Chunk::Error(e));
    };
    let formats = match column_formats(&format, running.schema.fields().len()) {
        Ok(formats) => formats,
        Err(e) => return fail(running, e),
    };
    if let Err(e) = sender.send(Chunk::Start(running.schema.clone(), formats.clone())) {
        return fail(running, e);
    }
    let writer = match &output {
        Output::Copy(copy) => Some(copy::CopyWriter::new(copy.clone(), &running.schema)),
        _ => None,
    };
    while let Some(batch) = running.next_batch() {
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => return fail(running, e),
        };
        if tagged {
            if let Err(e) = sender.send(Chunk::Batch(batch)) {
                return fail(running, e);
            }
            continue;
        }
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = ENCODE_ROWS.min(batch.num_rows() - offset);
            let rows = encode::encode_batch(&batch.slice(offset, len), &formats);
            offset += len;
            let chunk = match &writer {
                Some(writer) => Chunk::Lines(writer.lines(&rows)),
                None => Chunk::Rows(rows),
            };
            if let Err(e) = sender.send(chunk) {
                // The connection is gone, the statement was cancelled, or the client stopped
                // reading past the statement's time limit.
                return fail(running, e);
            }
        }
        running.progress();
    }
    running.finish(None);
    let _ = sender.send_last(Chunk::End);
}

/// The rows of a streamed answer, as they arrive; an error ends them.
fn row_stream(
    rows: statement::Receiver<Chunk>,
) -> impl futures::Stream<Item = PgWireResult<DataRow>> + Send + 'static {
    stream::unfold(Some(rows), |rows| async move {
        let mut rows = rows?;
        loop {
            let next: Vec<PgWireResult<DataRow>> = match rows.recv().await {
                Some(Chunk::Rows(encoded)) => encoded.into_iter().map(Ok).collect(),
                Some(Chunk::Error(e)) => return Some((vec![Err(sqlstate::api_error(&e))], None)),
                Some(Chunk::End) => return None,
                Some(Chunk::Start(..) | Chunk::Batch(_) | Chunk::Lines(_)) => continue,
                // The producer stopped without an end: it was cancelled.
                None => {
                    let e = sqlstate::query_error(&strata_query::Error::Cancelled);
                    return Some((vec![Err(e)], None));
                }
            };
            return Some((next, Some(rows)));
        }
    })
    .flat_map(stream::iter)
}

/// The lines of a streamed COPY, as they arrive; an error ends them.
fn row_stream_lines(
    rows: statement::Receiver<Chunk>,
) -> impl futures::Stream<Item = PgWireResult<CopyData>> + Send + 'static {
    stream::unfold(Some(rows), |rows| async move {
        let mut rows = rows?;
        loop {
            let next: Vec<PgWireResult<CopyData>> = match rows.recv().await {
                Some(Chunk::Lines(lines)) => {
                    lines.into_iter().map(|l| Ok(CopyData::new(l))).collect()
                }
                Some(Chunk::Error(e)) => return Some((vec![Err(sqlstate::api_error(&e))], None)),
                Some(Chunk::End) => return None,
                Some(Chunk::Start(..) | Chunk::Batch(_) | Chunk::Rows(_)) => continue,
                None => {
                    let e = sqlstate::query_error(&strata_query::Error::Cancelled);
                    return Some((vec![Err(e)], None));
                }
            };
            return Some((next, Some(rows)));
        }
    })
    .flat_map(stream::iter)
}

/// Sends a `COPY ... TO STDOUT`: CopyOutResponse (text, `columns` text columns), the header
/// line, one CopyData per row as the rows arrive, CopyDone and `COPY n` (n the rows, without
/// the header). An error after the CopyOutResponse ends the copy (the caller sends the
/// ErrorResponse, as PostgreSQL does).
async fn send_copy_out<C>(
    client: &mut C,
    columns: usize,
    header: Option<bytes::Bytes>,
    rows: statement::Receiver<Chunk>,
) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let columns_i16 = i16::try_from(columns).unwrap_or(i16::MAX);
    client
        .send(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
            0,
            columns_i16,
            vec![0; columns],
        )))
        .await?;
    if let Some(header) = header {
        client
            .feed(PgWireBackendMessage::CopyData(CopyData::new(header)))
            .await?;
    }
    let mut lines = std::pin::pin!(row_stream_lines(rows));
    let mut count = 0;
    while let Some(line) = lines.next().await {
        client.feed(PgWireBackendMessage::CopyData(line?)).await?;
        count += 1;
    }
    client
        .feed(PgWireBackendMessage::CopyDone(CopyDone::new()))
        .await?;
    let tag = Tag::new("COPY").with_rows(count);
    client
        .send(PgWireBackendMessage::CommandComplete(tag.into()))
        .await?;
    Ok(())
}

/// The receiver a CancelRequest for this connection fires (pgwire's connection handle).
async fn cancel_receiver<C: ClientInfo>(
    client: &mut C,
) -> Option<futures::channel::oneshot::Receiver<()>> {
    let handle = client
        .session_extensions()
        .get::<Arc<pgwire::api::ConnectionHandle>>()?;
    Some(handle.start_query().await)
}

/// Whether a simple query is empty (only `;` and blanks), as PostgreSQL decides it.
fn is_empty_query(query: &str) -> bool {
    query.chars().all(|c| c == ';' || c.is_whitespace())
}

impl Handler {
    /// The connection's principal (anonymous without auth).
    fn principal<C: ClientInfo>(&self, client: &C) -> PgWireResult<Principal> {
        match client.session_extensions().get::<Principal>() {
            Some(principal) => Ok((*principal).clone()),
            None if !self.auth.enabled() => Ok(Principal::anonymous()),
            None => Err(sqlstate::user_error(
                "28000",
                "not authenticated".to_string(),
            )),
        }
    }

    /// Answers one statement (already free of placeholders), with the result columns in
    /// `format`.
    async fn answer<C>(&self, client: &mut C, sql: &str, format: &Format) -> PgWireResult<Answer>
    where
        C: ClientInfo,
    {
        if let Some(answer) = session::answer(client.metadata_mut(), sql)? {
            return Ok(answer);
        }
        let sql = catalog::rewrite(&session::with_session_settings(client.metadata(), sql));
        let time_zone = session::time_zone(client.metadata())?;
        let principal = self.principal(client)?;
        let (sql, copy) = if copy::is_copy(&sql) {
            let copy = copy::parse(&sql)?;
            (copy.query, Some(copy.format))
        } else {
            (sql, None)
        };
        let verb = session::verb(&sql);
        let tagged = matches!(
            verb.as_str(),
            "INSERT" | "DELETE" | "CREATE" | "DROP" | "ALTER"
        );
        let output = match &copy {
            Some(copy) => Output::Copy(copy.clone()),
            None if tagged => Output::Tagged,
            None => Output::Rows(format.clone()),
        };
        let admitted = self
            .statements
            .admit(Request {
                sql: sql.clone(),
                principal,
                protocol: Protocol::Pg,
                query_id: None,
                timeout_ms: None,
                memory_limit_bytes: None,
                time_zone,
            })
            .await
            .map_err(|e| sqlstate::api_error(&e))?;
        let (sender, mut rows) = statement::channel(&admitted, CHANNEL_CHUNKS);
        tokio::task::spawn_blocking(move || produce(admitted, output, &sender));
        let (schema, formats) = match rows.recv().await {
            Some(Chunk::Start(schema, formats)) => (schema, formats),
            Some(Chunk::Error(e)) => {
                tracing::debug!(sql = %sql, error = %e, "pg statement failed");
                return Err(sqlstate::api_error(&e));
            }
            _ => {
                return Err(sqlstate::user_error(
                    "XX000",
                    "the statement ended without an answer",
                ))
            }
        };
        if let Some(copy) = copy {
            let header = copy::CopyWriter::new(copy, &schema).header(&schema);
            return Ok(Answer::Copy {
                columns: schema.fields().len(),
                header,
                rows,
            });
        }
        if !tagged {
            return Ok(Answer::Stream {
                schema,
                formats,
                rows,
            });
        }
        // A command tag: the (one-row) answer is read whole.
        let mut batches = vec![];
        loop {
            match rows.recv().await {
                Some(Chunk::Batch(batch)) => batches.push(batch),
                Some(Chunk::End) => break,
                Some(Chunk::Error(e)) => return Err(sqlstate::api_error(&e)),
                Some(Chunk::Start(..) | Chunk::Rows(_) | Chunk::Lines(_)) => {}
                None => return Err(sqlstate::query_error(&strata_query::Error::Cancelled)),
            }
        }
        let count = || {
            batches
                .first()
                .and_then(|b| {
                    b.column(0)
                        .as_any()
                        .downcast_ref::<arrow::array::Int64Array>()
                })
                .filter(|a| !a.is_empty())
                .map(|a| a.value(0))
                .unwrap_or(0) as usize
        };
        Ok(match verb.as_str() {
            "INSERT" => Answer::Tag(Tag::new("INSERT").with_oid(0).with_rows(count())),
            "DELETE" => Answer::Tag(Tag::new("DELETE").with_rows(count())),
            verb => Answer::Tag(Tag::new(&format!("{verb} {}", session::second_word(&sql)))),
        })
    }

    /// Answers a portal: its statement with the bound parameters (`None`: an empty query).
    async fn portal_answer<C>(
        &self,
        client: &mut C,
        portal: &Portal<Statement>,
    ) -> PgWireResult<Option<Answer>>
    where
        C: ClientInfo,
    {
        let sql = params::substitute(&portal.statement.statement.sql, &portal_params(portal))
            .map_err(|m| sqlstate::user_error("08P01", m))?;
        if sql.is_empty() {
            return Ok(None);
        }
        self.answer(client, &sql, &portal.result_column_format)
            .await
            .map(Some)
    }

    /// The schema `sql` answers with, without running it (`None`: no rows).
    fn describe(
        &self,
        sql: &str,
        time_zone: Option<strata_query::TimeZone>,
    ) -> PgWireResult<Option<SchemaRef>> {
        if let Some(schema) = session::describe(sql) {
            return Ok(schema);
        }
        if copy::is_copy(sql) {
            // A COPY answers no rows (NoData), as in PostgreSQL: its data goes in CopyData.
            return Ok(None);
        }
        let sql = catalog::rewrite(sql);
        self.statements
            .engine()
            .describe_in(&sql, time_zone)
            .map_err(|e| {
                tracing::debug!(sql = %sql, error = %e, "pg statement failed to describe");
                sqlstate::query_error(&e)
            })
    }

    /// The statements of a simple query, one after the other, each answered (its rows
    /// streamed) before the next starts; an error ends the query, as in PostgreSQL.
    async fn simple_query<C>(
        &self,
        client: &mut C,
        query: &str,
        status: &mut pgwire::messages::response::TransactionStatus,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        for statement in params::split_statements(query) {
            let sent = match self.answer(client, &statement, &Format::UnifiedText).await {
                Ok(Answer::Copy {
                    columns,
                    header,
                    rows,
                }) => send_copy_out(client, columns, header, rows).await,
                Ok(answer) => match into_response(answer, &Format::UnifiedText) {
                    Response::Query(results) => {
                        pgwire::api::query::send_query_response(client, results, true).await
                    }
                    Response::Execution(tag) => {
                        pgwire::api::query::send_execution_response(client, tag).await
                    }
                    Response::TransactionStart(tag) => {
                        *status = status.to_in_transaction_state();
                        pgwire::api::query::send_execution_response(client, tag).await
                    }
                    Response::TransactionEnd(tag) => {
                        *status = status.to_idle_state();
                        pgwire::api::query::send_execution_response(client, tag).await
                    }
                    _ => Ok(()),
                },
                Err(e) => Err(e),
            };
            match sent {
                Ok(()) => {}
                Err(PgWireError::UserError(info)) => {
                    // The rest of a multi-statement query does not run, as in PostgreSQL.
                    client
                        .feed(PgWireBackendMessage::ErrorResponse((*info).into()))
                        .await?;
                    *status = status.to_error_state();
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Executes a portal: starts it on its first Execute, then streams up to `max_rows` rows
    /// (0: all) from where the last Execute stopped, answering PortalSuspended while rows
    /// remain and CommandComplete at the end.
    async fn execute_portal<C>(
        &self,
        client: &mut C,
        portal: &Portal<Statement>,
        max_rows: usize,
        status: &mut pgwire::messages::response::TransactionStatus,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let state = portal.state();
        let initial = matches!(*state.lock().await, PortalExecutionState::Initial);
        if initial {
            let response = match self.portal_answer(client, portal).await? {
                Some(Answer::Copy {
                    columns,
                    header,
                    rows,
                }) => {
                    *state.lock().await = PortalExecutionState::Finished;
                    return send_copy_out(client, columns, header, rows).await;
                }
                Some(answer) => into_response(answer, &portal.result_column_format),
                None => Response::EmptyQuery,
            };
            match response {
                Response::Query(results) => portal.start(results).await,
                Response::EmptyQuery => {
                    client
                        .feed(PgWireBackendMessage::EmptyQueryResponse(
                            EmptyQueryResponse::new(),
                        ))
                        .await?;
                    return Ok(());
                }
                Response::Execution(tag) => {
                    return pgwire::api::query::send_execution_response(client, tag).await
                }
                Response::TransactionStart(tag) => {
                    *status = status.to_in_transaction_state();
                    return pgwire::api::query::send_execution_response(client, tag).await;
                }
                Response::TransactionEnd(tag) => {
                    *status = status.to_idle_state();
                    client.portal_store().rm_portal(DEFAULT_NAME);
                    return pgwire::api::query::send_execution_response(client, tag).await;
                }
                Response::Error(info) => {
                    *status = status.to_error_state();
                    client
                        .send(PgWireBackendMessage::ErrorResponse((*info).into()))
                        .await?;
                    return Ok(());
                }
                _ => {
                    return Err(sqlstate::user_error(
                        "0A000",
                        "COPY is not supported; use SELECT (or POST /v1/sql)",
                    ))
                }
            }
        }
        let mut state = state.lock().await;
        let PortalExecutionState::Suspended(response) = &mut *state else {
            // Finished already: no more rows.
            let tag = Tag::new("SELECT").with_rows(0);
            return client
                .send(PgWireBackendMessage::CommandComplete(tag.into()))
                .await
                .map_err(Into::into);
        };
        let mut sent = 0;
        let mut more = true;
        while max_rows == 0 || sent < max_rows {
            match response.data_rows().next().await {
                Some(Ok(row)) => {
                    client.feed(PgWireBackendMessage::DataRow(row)).await?;
                    sent += 1;
                }
                Some(Err(e)) => {
                    *state = PortalExecutionState::Finished;
                    return Err(e);
                }
                None => {
                    more = false;
                    break;
                }
            }
        }
        if more {
            client
                .send(PgWireBackendMessage::PortalSuspended(PortalSuspended::new()))
                .await?;
        } else {
            let tag = Tag::new(response.command_tag()).with_rows(sent);
            // Dropping the finished stream ends the statement's channel.
            *state = PortalExecutionState::Finished;
            client
                .send(PgWireBackendMessage::CommandComplete(tag.into()))
                .await?;
        }
        Ok(())
    }
}

/// An answer as pgwire's response; `formats` gives each column's format.
fn into_response(answer: Answer, formats: &Format) -> Response {
    match answer {
        Answer::Rows { schema, batches } => {
            let column_formats: Vec<FieldFormat> =
                match column_formats(formats, schema.fields().len()) {
                    Ok(f) => f,
                    Err(e) => {
                        return Response::Error(Box::new(sqlstate::error_info(
                            "08P01",
                            e.to_string(),
                        )))
                    }
                };
            let fields = Arc::new(encode::fields(&schema, |i| column_formats[i]));
            let encoded = batches
                .iter()
                .flat_map(|b| encode::encode_batch(b, &column_formats))
                .map(Ok)
                .collect::<Vec<_>>();
            // pgwire appends the row count to the tag: `SELECT n`.
            Response::Query(QueryResponse::new(fields, stream::iter(encoded)))
        }
        Answer::Stream {
            schema,
            formats,
            rows,
        } => {
            let fields = Arc::new(encode::fields(&schema, |i| {
                formats.get(i).copied().unwrap_or(FieldFormat::Text)
            }));
            Response::Query(QueryResponse::new(fields, row_stream(rows)))
        }
        Answer::Copy {
            columns,
            header,
            rows,
        } => {
            // Not reached: the handlers send COPY themselves (send_copy_out), which counts the
            // rows without the header line.
            let header = stream::iter(header.map(|h| Ok(CopyData::new(h))));
            let lines = row_stream_lines(rows);
            Response::CopyOut(CopyResponse::new(0, columns, header.chain(lines)))
        }
        Answer::Tag(tag) => Response::Execution(tag),
        Answer::Begin => Response::TransactionStart(Tag::new("BEGIN")),
        Answer::End(verb) => Response::TransactionEnd(Tag::new(verb)),
    }
}

#[async_trait]
impl SimpleQueryHandler for Handler {
    /// A simple query: its statements run one after the other, each streamed to the client
    /// as it runs (pgwire's default would start them all before sending any); a CancelRequest
    /// stops the one running.
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        let mut status = client.transaction_status();
        client.set_state(PgWireConnectionState::QueryInProgress);
        if is_empty_query(&query.query) {
            client
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
        } else {
            match cancel_receiver(client).await {
                Some(cancelled) => {
                    tokio::select! {
                        done = self.simple_query(client, &query.query, &mut status) => done?,
                        _ = cancelled => return Err(PgWireError::QueryCanceled),
                    }
                }
                None => self.simple_query(client, &query.query, &mut status).await?,
            }
        }
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client.set_transaction_status(status);
        pgwire::api::query::send_ready_for_query(client, status).await
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // Not reached (`on_query` answers statement by statement); kept whole for the trait.
        let mut responses = vec![];
        for statement in params::split_statements(query) {
            match self.answer(client, &statement, &Format::UnifiedText).await {
                Ok(answer) => responses.push(into_response(answer, &Format::UnifiedText)),
                Err(PgWireError::UserError(info)) => {
                    responses.push(Response::Error(info));
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(responses)
    }
}

/// A prepared statement: its text and how many `$n` it has.
#[derive(Debug, Clone)]
pub struct Statement {
    sql: String,
    params: usize,
}

/// Stores the statement text; it is bound when executed.
struct Parser;

#[async_trait]
impl QueryParser for Parser {
    type Statement = Statement;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let sql = sql.trim().trim_end_matches(';').trim().to_string();
        Ok(Some(Statement {
            params: params::placeholder_count(&sql),
            sql,
        }))
    }

    fn get_parameter_types(&self, stmt: &Statement) -> PgWireResult<Vec<Type>> {
        // Untyped parameters are text: their literal takes the type of what it meets.
        Ok(vec![Type::TEXT; stmt.params])
    }

    fn get_result_schema(
        &self,
        _stmt: &Statement,
        _column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(vec![])
    }
}

/// The parameters of a portal, for [`params::substitute`].
fn portal_params(portal: &Portal<Statement>) -> Vec<params::Param<'_>> {
    let declared = &portal.statement.parameter_types;
    portal
        .parameters
        .iter()
        .enumerate()
        .map(|(i, bytes)| params::Param {
            bytes: bytes.as_deref(),
            binary: portal.parameter_format.is_binary(i),
            ty: declared.get(i).cloned().flatten(),
        })
        .collect()
}

/// The statement with NULL for every parameter (typed when the client declared the type), to
/// learn its result schema before the values are bound.
fn with_null_params(stmt: &StoredStatement<Statement>) -> PgWireResult<String> {
    let nulls: Vec<params::Param<'_>> = (0..stmt.statement.params)
        .map(|i| params::Param {
            bytes: None,
            binary: false,
            ty: stmt.parameter_types.get(i).cloned().flatten(),
        })
        .collect();
    params::substitute(&stmt.statement.sql, &nulls).map_err(|m| sqlstate::user_error("08P01", m))
}

#[async_trait]
impl ExtendedQueryHandler for Handler {
    type Statement = Statement;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        self.parser.clone()
    }

    async fn do_describe_statement<C>(
        &self,
        client: &mut C,
        target: &StoredStatement<Statement>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let param_types = (0..target.statement.params)
            .map(|i| {
                target
                    .parameter_types
                    .get(i)
                    .cloned()
                    .flatten()
                    .filter(|t| *t != Type::UNKNOWN)
                    .unwrap_or(Type::TEXT)
            })
            .collect();
        let sql = with_null_params(target)?;
        let fields = match self.describe(&sql, session::time_zone(client.metadata())?)? {
            Some(schema) => encode::fields(&schema, |_| FieldFormat::Text),
            None => vec![],
        };
        Ok(DescribeStatementResponse::new(param_types, fields))
    }

    async fn do_describe_portal<C>(
        &self,
        client: &mut C,
        portal: &Portal<Statement>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let sql = params::substitute(&portal.statement.statement.sql, &portal_params(portal))
            .map_err(|m| sqlstate::user_error("08P01", m))?;
        let fields = match self.describe(&sql, session::time_zone(client.metadata())?)? {
            Some(schema) => encode::fields(&schema, |i| portal.result_column_format.format_for(i)),
            None => vec![],
        };
        Ok(DescribePortalResponse::new(fields))
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        Ok(match self.portal_answer(client, portal).await? {
            Some(answer) => into_response(answer, &portal.result_column_format),
            None => Response::EmptyQuery,
        })
    }

    /// Execute: the portal's rows streamed up to the row limit (see
    /// [`Handler::execute_portal`]); pgwire's default would gather them in memory first. A
    /// CancelRequest stops the statement and closes the portal.
    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        let mut status = client.transaction_status();
        client.set_state(PgWireConnectionState::QueryInProgress);
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        // A negative limit means none, as 0 does.
        let max_rows = usize::try_from(message.max_rows).unwrap_or(0);
        let portal = match client.portal_store().get_portal(name) {
            Some(Entry::Value(portal)) => portal,
            Some(Entry::Empty) => {
                client
                    .feed(PgWireBackendMessage::EmptyQueryResponse(
                        EmptyQueryResponse::new(),
                    ))
                    .await?;
                client.set_state(PgWireConnectionState::ReadyForQuery);
                return Ok(());
            }
            None => return Err(PgWireError::PortalNotFound(name.to_owned())),
        };
        match cancel_receiver(client).await {
            Some(cancelled) => {
                tokio::select! {
                    done = self.execute_portal(client, &portal, max_rows, &mut status) => done?,
                    _ = cancelled => {
                        // Dropping the portal's rows cancels its statement.
                        *portal.state().lock().await = PortalExecutionState::Finished;
                        return Err(PgWireError::QueryCanceled);
                    }
                }
            }
            None => {
                self.execute_portal(client, &portal, max_rows, &mut status)
                    .await?
            }
        }
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client.set_transaction_status(status);
        Ok(())
    }
}
