// Usage: node audit.cjs http://127.0.0.1:8000/graphql  -> prints one JSON line per audit; exit 1 on any "error"
const { auditServer } = require('./graphql-http-audits.js');
(async () => {
  const url = process.argv[2];
  const results = await auditServer({ url, fetchFn: fetch });
  const out = results.map((r) => ({ id: r.id, name: r.name, status: r.status, reason: r.reason }));
  console.log(JSON.stringify(out));
  process.exit(results.some((r) => r.status === 'error') ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(2); });
