/** Test helpers for the real local stack: throwaway databases, buckets and queues. */
import { randomBytes, randomInt } from 'node:crypto';
import mysql from 'mysql2/promise';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { loadSettings, type Settings } from '../../src/config/settings';
import { createPool, type Db } from '../../src/store/db';
import { migrate, TABLES } from '../../src/store/schema';

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** A fresh, migrated database (clp_test_*) with settings pointing at it and job ids of its own. */
export async function createTestDb(): Promise<{ settings: Settings; pool: Db; drop: () => Promise<void> }> {
  const base = loadSettings();
  const database = uniqueName('clp_test').replace(/-/g, '_');
  const admin = await mysql.createConnection({
    host: base.db.host,
    port: base.db.port,
    user: base.db.user,
    password: base.db.password,
  });
  await admin.query(`CREATE DATABASE \`${database}\``);
  await admin.end();
  const settings: Settings = { ...base, db: { ...base.db, database } };
  const pool = createPool(settings.db);
  await migrate(pool);
  // Every throwaway DB would number its jobs from 1, but workflow ids (one per
  // job id) share one Temporal namespace: start this DB's ids somewhere unused.
  await pool.query(`ALTER TABLE ${TABLES.ingestionJobs} AUTO_INCREMENT = ?`, [
    randomInt(1_000_000, 2_000_000_000),
  ]);
  return {
    settings,
    pool,
    drop: async () => {
      await pool.query(`DROP DATABASE \`${database}\``);
      await pool.end();
    },
  };
}

export async function createTestBucket(s3: S3Client): Promise<string> {
  const bucket = uniqueName('test').toLowerCase();
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}
