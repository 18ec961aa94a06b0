/** The CLP DB connection pool and the transaction helper every write goes through. */
import mysql, { type Pool, type PoolConnection } from 'mysql2/promise';
import type { DbSettings } from '../config/settings';

export type Db = Pool;
export type Tx = PoolConnection;

/**
 * The pool every process uses. `offerLocalFiles: false` leaves LOAD DATA LOCAL
 * out of what its connections offer, so the server refuses it and files are
 * recorded by INSERT (as on a server with local_infile off): for the tests
 * and the bench that compare the two.
 */
export function createPool(db: DbSettings, opts: { offerLocalFiles?: boolean } = {}): Pool {
  const pool = mysql.createPool({
    ...(opts.offerLocalFiles === false ? { flags: ['-LOCAL_FILES'] } : {}),
    host: db.host,
    port: db.port,
    database: db.database,
    user: db.user,
    password: db.password,
    connectionLimit: db.connectionLimit,
    // BIGINT ids and counters come back as numbers while they fit, strings beyond.
    supportBigNumbers: true,
    // The server's default collation, as CLP's package runs it; columns that
    // need byte order (keys, paths) declare utf8mb4_bin themselves.
    charset: 'utf8mb4',
    enableKeepAlive: true,
    connectTimeout: 5_000,
  });
  const idle = db.idleTransactionTimeoutSec ?? 0;
  if (idle > 0) {
    // A process frozen inside a transaction (SIGSTOP, a paused VM) holds its row locks, the job row's
    // among them, until it thaws: every other worker's writes for that job wait on it. MariaDB ends
    // such a transaction (and its connection) after this long idle; the frozen call's activity then
    // fails when it wakes and is retried. MySQL has no such variable: the error is ignored there.
    pool.pool.on('connection', (conn) => {
      conn.query(`SET SESSION idle_transaction_timeout = ${Math.floor(idle)}`, () => undefined);
    });
  }
  return pool;
}

/** InnoDB chose this transaction as a deadlock victim or it waited too long: safe to run again. */
const RETRYABLE_TX_ERRORS = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);
const TX_ATTEMPTS = 5;

/**
 * Runs fn in one transaction: commits if it returns, rolls back if it throws.
 * A transaction rolled back as a deadlock victim is run again from the start
 * (fn must therefore only touch the database through tx). `readCommitted`
 * runs it at READ COMMITTED instead of the server's REPEATABLE READ.
 */
export async function withTransaction<T>(
  db: Pool,
  fn: (tx: Tx) => Promise<T>,
  opts: { readCommitted?: boolean } = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const tx = await db.getConnection();
    try {
      // For the next transaction only: no gap locks on searches, and every statement reads the newest commits.
      if (opts.readCommitted) await tx.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
      await tx.beginTransaction();
      const result = await fn(tx);
      await tx.commit();
      return result;
    } catch (err) {
      await tx.rollback().catch(() => undefined);
      const code = (err as { code?: string }).code;
      if (attempt >= TX_ATTEMPTS || !code || !RETRYABLE_TX_ERRORS.has(code)) throw err;
      await new Promise((r) => setTimeout(r, 10 * attempt + Math.random() * 20));
    } finally {
      tx.release();
    }
  }
}
