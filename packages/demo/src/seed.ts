import pg from 'pg';
import { ensureDatabase } from '@airlock/runtime';

/** A small deterministic generator so the demo data is the same on every machine. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function luhnComplete(prefix: string, length: number, rnd: () => number): string {
  let digits = prefix;
  while (digits.length < length - 1) digits += Math.floor(rnd() * 10).toString();
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return digits + ((10 - (sum % 10)) % 10).toString();
}

const first = ['Ann', 'Bob', 'Chen', 'Dana', 'Eli', 'Fatima', 'Goran', 'Hana', 'Ivan', 'Julia', 'Kofi', 'Lena', 'Mateo', 'Nora', 'Omar', 'Priya', 'Quinn', 'Rosa', 'Sami', 'Tara'];
const last = ['Lee', 'Martin', 'Okafor', 'Novak', 'Silva', 'Haddad', 'Kowalski', 'Tanaka', 'Murphy', 'Rossi', 'Dubois', 'Schmidt', 'Nguyen', 'Berg', 'Costa'];
const domains = ['example.com', 'example.org', 'mail.example.net', 'corp.example'];

export interface DemoCustomer {
  id: number;
  name: string;
  email: string;
  phone: string;
  card_number: string;
  ssn: string;
  notes: string | null;
}

/** The demo customers: realistic fake PII; every fifth note holds a card number in free text. */
export function demoCustomers(count = 50): DemoCustomer[] {
  const rnd = prng(20261129);
  const out: DemoCustomer[] = [];
  for (let id = 1; id <= count; id++) {
    const f = first[(id - 1) % first.length]!;
    const l = last[Math.floor(rnd() * last.length)]!;
    const card = luhnComplete(id % 2 ? '4' : '51', 16, rnd);
    const area = 100 + Math.floor(rnd() * 560); // 100–659: never 000, 666 or 9xx
    const ssn = `${area}-${String(10 + Math.floor(rnd() * 89)).padStart(2, '0')}-${String(1000 + Math.floor(rnd() * 8999))}`;
    const phone = `+1 ${200 + Math.floor(rnd() * 700)} 555 ${String(Math.floor(rnd() * 10000)).padStart(4, '0')}`;
    const otherCard = luhnComplete('4', 16, rnd);
    const notes =
      id % 5 === 0
        ? `Called support; paid with card ${otherCard.replace(/(\d{4})(?=\d)/g, '$1 ')} instead of the one on file.`
        : id % 3 === 0
          ? 'Prefers contact by post.'
          : id % 7 === 0
            ? null
            : 'Regular customer.';
    out.push({ id, name: `${f} ${l}`, email: `${f.toLowerCase()}.${l.toLowerCase()}${id}@${domains[id % domains.length]}`, phone, card_number: card, ssn, notes });
  }
  return out;
}

export interface DemoOrder {
  id: number;
  customer_id: number;
  total: string;
  created_at: string;
}

export function demoOrders(count = 200, customers = 50): DemoOrder[] {
  const rnd = prng(42);
  const out: DemoOrder[] = [];
  const base = Date.UTC(2026, 0, 1);
  for (let id = 1; id <= count; id++) {
    out.push({
      id,
      customer_id: 1 + Math.floor(rnd() * customers),
      total: (5 + rnd() * 495).toFixed(2),
      created_at: new Date(base + Math.floor(rnd() * 300 * 86400) * 1000).toISOString(),
    });
  }
  return out;
}

async function ensureRole(client: pg.Client, role: string): Promise<void> {
  try {
    await client.query(`CREATE ROLE ${pg.escapeIdentifier(role)} NOLOGIN`);
  } catch (err) {
    const code = (err as { code?: string }).code;
    // exists already, or a concurrent creation won the race
    if (code !== '42710' && code !== '23505' && code !== 'XX000') throw err;
  }
}

/**
 * Creates and fills the demo database (idempotent) and the scope roles the demo policies name:
 * `demo_reader` reads both tables, `demo_writer` also changes orders. Leases are members of one of them.
 */
export async function seedDemoDatabase(url: string): Promise<void> {
  await ensureDatabase(url);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock(hashtext('airlock-demo-seed'))");
    await ensureRole(client, 'demo_reader');
    await ensureRole(client, 'demo_writer');
    await client.query(`
      CREATE TABLE IF NOT EXISTS customers (
        id integer PRIMARY KEY,
        name text NOT NULL,
        email text NOT NULL,
        phone text NOT NULL,
        card_number text NOT NULL,
        ssn text NOT NULL,
        notes text);
      CREATE TABLE IF NOT EXISTS orders (
        id integer PRIMARY KEY,
        customer_id integer NOT NULL REFERENCES customers (id),
        total numeric(10, 2) NOT NULL,
        created_at timestamptz NOT NULL);
      REVOKE ALL ON customers, orders FROM PUBLIC;
      GRANT SELECT ON customers, orders TO demo_reader;
      GRANT SELECT ON customers TO demo_writer;
      GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO demo_writer;
      REVOKE CREATE ON SCHEMA public FROM PUBLIC;`);
    const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM customers');
    if (Number(rows[0]!.n) === 0) {
      for (const c of demoCustomers()) {
        await client.query('INSERT INTO customers VALUES ($1, $2, $3, $4, $5, $6, $7)', [c.id, c.name, c.email, c.phone, c.card_number, c.ssn, c.notes]);
      }
      for (const o of demoOrders()) {
        await client.query('INSERT INTO orders VALUES ($1, $2, $3, $4)', [o.id, o.customer_id, o.total, o.created_at]);
      }
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock(hashtext('airlock-demo-seed'))").catch(() => undefined);
    await client.end();
  }
}
