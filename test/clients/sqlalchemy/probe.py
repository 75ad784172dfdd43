"""SQLAlchemy 1.4 with psycopg2, as LangChain's SQLDatabase and most Python agents use it: connect, inspect the schema,
run a bound-parameter read and a refused write, and try each closed catalog relation. Prints one JSON object per step;
the test asserts on them. Usage: probe.py <sqlalchemy url> <closed relation>..."""
import json
import sys

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError


def emit(step, **body):
    print(json.dumps({"step": step, **body}), flush=True)


def refusal(conn, sql):
    try:
        conn.execute(text(sql)).fetchall()
        return {"refused": False}
    except DBAPIError as e:
        return {"refused": True, "sqlState": e.orig.pgcode, "message": e.orig.pgerror.strip()}


engine = create_engine(sys.argv[1])
insp = inspect(engine)
emit("tables", tables=sorted(insp.get_table_names()))
emit("columns", columns=[[c["name"], str(c["type"])] for c in insp.get_columns("customers")])
emit("primaryKey", columns=insp.get_pk_constraint("orders")["constrained_columns"])
emit("foreignKeys", keys=[[f["constrained_columns"], f["referred_table"], f["referred_columns"]] for f in insp.get_foreign_keys("orders")])
with engine.connect() as conn:
    rows = conn.execute(text("SELECT id, name, email, phone, card_number, ssn FROM customers WHERE id <= :n ORDER BY id"), {"n": 3}).fetchall()
    emit("masked", rows=[[None if v is None else str(v) for v in r] for r in rows])
with engine.connect() as conn:
    emit("refusedWrite", **refusal(conn, "DROP TABLE orders"))
for relation in sys.argv[2:]:
    with engine.connect() as conn:
        emit("closed", relation=relation, **refusal(conn, f"SELECT * FROM {relation}"))
