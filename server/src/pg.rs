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
//!        | session::answer  SET / SHOW / BEGIN / COMMIT / DISCARD ... answered here
//!        | catalog::rewrite the catalog queries of psql and Grafana, narrowly rewritten
//!        v
//!   QueryEngine::execute_with on the blocking pool, under the query limits, registered in
//!        |                   the query registry (a cancel request sets its flag)
//!        v
//!   encode: Arrow batches -> DataRows (text or binary per column), sqlstate: errors
//! ```
//!
//! Authentication is one seam: [`PasswordCheck`]. Without one every user is trusted (the
//! default); with one the client is asked for a cleartext password, which the callback checks.

mod catalog;
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
use futures::{stream, Sink};
use pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DescribePortalResponse, DescribeStatementResponse, FieldFormat, FieldInfo, QueryResponse,
    Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionManager, PgWireServerHandlers, PidSecretKeyGenerator,
    Type,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use strata_query::{QueryEngine, QueryLimits};

use crate::auth::{self, Auth, Principal};
use crate::queries::{Guard, Registry};

/// The most connections served at once; more are refused (closed at once).
pub const CONNECTIONS_MAX: usize = 1024;

/// What the endpoint needs from the server.
pub struct PgConfig {
    /// The engine statements run on.
    pub engine: QueryEngine,
    /// A statement's time limit.
    pub query_timeout_ms: u64,
    /// A statement's memory limit.
    pub query_memory_limit_bytes: usize,
    /// Threads a statement's scan may use.
    pub query_threads: usize,
    /// The query registry shared with HTTP (`system.queries`, `DELETE /v1/queries/{id}`).
    pub queries: Arc<Registry>,
    /// The server's tokens: when they are on, the password is a token and its role limits the
    /// statements; when off, every user is trusted.
    pub auth: Auth,
    /// TLS (`--tls-cert`/`--tls-key`): clients may upgrade with `sslmode=require`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

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
/// ends; returns the bound address.
pub async fn start(addr: SocketAddr, config: PgConfig) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let manager = Arc::new(ConnectionManager::new());
    let tls = config.tls.clone().map(pgwire::tokio::TlsAcceptor::from);
    let handler = Arc::new(Handler {
        queries: config.queries.clone(),
        config,
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
                if let Err(e) = pgwire::tokio::process_socket(socket, tls, handlers).await {
                    tracing::debug!(%peer, error = %e, "pg connection ended with an error");
                }
                open.fetch_sub(1, Ordering::Relaxed);
            });
        }
    });
    Ok(local)
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
        let password = handler.config.auth.enabled().then(|| {
            CleartextPasswordAuthStartupHandler::new(
                CheckSource(handler.config.auth.clone()),
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
                    if let Ok(principal) = self.handler.config.auth.check_password(&user, token) {
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
    config: PgConfig,
    queries: Arc<Registry>,
    parser: Arc<Parser>,
    manager: Arc<ConnectionManager>,
}

/// What one statement answered.
enum Answer {
    /// Rows, with the command tag's verb (`SELECT`, `SHOW`, ...).
    Rows {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    },
    /// A command tag without rows.
    Tag(Tag),
    /// `BEGIN`.
    Begin,
    /// `COMMIT` / `ROLLBACK`.
    End(&'static str),
}

impl Handler {
    fn limits(&self, cancel: Arc<std::sync::atomic::AtomicBool>) -> QueryLimits {
        QueryLimits {
            timeout: Some(std::time::Duration::from_millis(
                self.config.query_timeout_ms,
            )),
            memory_limit_bytes: Some(self.config.query_memory_limit_bytes),
            cancel: Some(cancel),
            threads: Some(self.config.query_threads),
        }
    }

    /// Answers one statement (already free of placeholders).
    async fn answer<C>(&self, client: &mut C, sql: &str) -> PgWireResult<Answer>
    where
        C: ClientInfo,
    {
        if let Some(answer) = session::answer(client.metadata_mut(), sql)? {
            return Ok(answer);
        }
        let sql = catalog::rewrite(sql);
        let principal = match client.session_extensions().get::<Principal>() {
            Some(principal) => (*principal).clone(),
            None if !self.config.auth.enabled() => Principal::anonymous(),
            None => {
                return Err(sqlstate::user_error(
                    "28000",
                    "not authenticated".to_string(),
                ))
            }
        };
        // The role check needs the parsed statement; a statement that does not parse fails
        // below with its syntax error.
        if let Ok(statement) = strata_query::parser::parse(&sql) {
            if let Err(e) = auth::authorize(&principal, strata_query::required_access(&statement)) {
                return Err(sqlstate::user_error("42501", e.to_string()));
            }
        }
        let (id, cancel) = self
            .queries
            .start(None, &sql, &principal.name)
            .map_err(|m| sqlstate::user_error("XX000", m))?;
        // Dropped with this future when a cancel request interrupts it: that sets the flag and
        // the query stops at its next batch.
        let guard = Guard::new(self.queries.clone(), id, cancel.clone());
        let engine = self.config.engine.clone();
        let limits = self.limits(cancel);
        let text = sql.clone();
        let result = tokio::task::spawn_blocking(move || engine.execute_with(&text, &limits))
            .await
            .map_err(|e| sqlstate::user_error("XX000", format!("query task failed: {e}")))?;
        guard.finish(match &result {
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        });
        let output = match result {
            Ok(output) => output,
            Err(e) => match catalog::fallback(&sql, &e) {
                Some(schema) => {
                    return Ok(Answer::Rows {
                        schema,
                        batches: vec![],
                    })
                }
                None => return Err(sqlstate::query_error(&e)),
            },
        };
        Ok(match session::verb(&sql).as_str() {
            "INSERT" => {
                let rows = output
                    .batches
                    .first()
                    .and_then(|b| {
                        b.column(0)
                            .as_any()
                            .downcast_ref::<arrow::array::Int64Array>()
                    })
                    .map(|a| a.value(0))
                    .unwrap_or(0);
                Answer::Tag(Tag::new("INSERT").with_oid(0).with_rows(rows as usize))
            }
            verb @ ("CREATE" | "DROP" | "ALTER") => {
                Answer::Tag(Tag::new(&format!("{verb} {}", session::second_word(&sql))))
            }
            _ => Answer::Rows {
                schema: output.schema,
                batches: output.batches,
            },
        })
    }

    /// The schema `sql` answers with, without running it (`None`: no rows).
    fn describe(&self, sql: &str) -> PgWireResult<Option<SchemaRef>> {
        if let Some(schema) = session::describe(sql) {
            return Ok(schema);
        }
        let sql = catalog::rewrite(sql);
        match self.config.engine.describe(&sql) {
            Ok(schema) => Ok(schema),
            Err(e) => match catalog::fallback(&sql, &e) {
                Some(schema) => Ok(Some(schema)),
                None => Err(sqlstate::query_error(&e)),
            },
        }
    }
}

/// An answer as pgwire's response; `formats` gives each column's format.
fn into_response(answer: Answer, formats: &Format) -> Response {
    match answer {
        Answer::Rows { schema, batches } => {
            let fields = Arc::new(encode::fields(&schema, |i| formats.format_for(i)));
            let column_formats: Vec<FieldFormat> = fields.iter().map(FieldInfo::format).collect();
            let encoded = batches
                .iter()
                .flat_map(|b| encode::encode_batch(b, &column_formats))
                .map(Ok)
                .collect::<Vec<_>>();
            // pgwire appends the row count to the tag: `SELECT n`.
            Response::Query(QueryResponse::new(fields, stream::iter(encoded)))
        }
        Answer::Tag(tag) => Response::Execution(tag),
        Answer::Begin => Response::TransactionStart(Tag::new("BEGIN")),
        Answer::End(verb) => Response::TransactionEnd(Tag::new(verb)),
    }
}

#[async_trait]
impl SimpleQueryHandler for Handler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut responses = vec![];
        for statement in params::split_statements(query) {
            match self.answer(client, &statement).await {
                Ok(answer) => responses.push(into_response(answer, &Format::UnifiedText)),
                Err(PgWireError::UserError(info)) => {
                    // The rest of a multi-statement query does not run, as in PostgreSQL.
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
        _client: &mut C,
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
        let fields = match self.describe(&sql)? {
            Some(schema) => encode::fields(&schema, |_| FieldFormat::Text),
            None => vec![],
        };
        Ok(DescribeStatementResponse::new(param_types, fields))
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
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
        let fields = match self.describe(&sql)? {
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
        let sql = params::substitute(&portal.statement.statement.sql, &portal_params(portal))
            .map_err(|m| sqlstate::user_error("08P01", m))?;
        if sql.is_empty() {
            return Ok(Response::EmptyQuery);
        }
        let answer = self.answer(client, &sql).await?;
        Ok(into_response(answer, &portal.result_column_format))
    }
}
