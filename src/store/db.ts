/** The CLP DB connection pool and the transaction helper every write goes through. */
import mysql, { type Pool, type PoolConnection } from 'mysql2/promise';
import type { DbSettings } from '../config/settings';

export type Db = Pool;
export type Tx = PoolConnection;

export function createPool(db: DbSettings): Pool {
  return mysql.createPool({
    host: db.host,
    port: db.port,
    database: db.database,
    user: db.user,
    password: db.password,
    connectionLimit: db.connectionLimit,
    // BIGINT ids and counters come back as numbers while they fit, strings beyond.
    supportBigNumbers: true,
    charset: 'utf8mb4_bin',
    enableKeepAlive: true,
    connectTimeout: 5_000,
  });
}

/** Runs fn in one transaction: commits if it returns, rolls back if it throws. */
export async function withTransaction<T>(db: Pool, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const tx = await db.getConnection();
  try {
    await tx.beginTransaction();
    const result = await fn(tx);
    await tx.commit();
    return result;
  } catch (err) {
    await tx.rollback().catch(() => undefined);
    throw err;
  } finally {
    tx.release();
  }
}
