// Drive an IMAP server with imapflow: login, list, fetch, then IDLE until a
// message delivered from outside shows up.
//
// Usage: node flow.mjs HOST PORT USER PASSWORD [CYCLES]
//
// Run by interop/imapflow_test.go. Protocol:
//   - the Go test has put one message ("imapflow one") in INBOX;
//   - once IDLE is acknowledged this script prints "IDLING" on stdout, and the
//     Go test then delivers a second message ("imapflow two");
//   - the script waits for the 'exists' event, fetches the new message, checks
//     it, prints "imapflow flow: ok" and exits 0.
//   - with CYCLES, it then goes into IDLE again CYCLES times, each time
//     printing "READY n" (n = 3, 4, ...) once it asked for IDLE; the Go test
//     waits until the IDLE sleeps and delivers "imapflow n", which the
//     script must see as the 'exists' event of message n and fetch.
// Any mismatch is printed and the exit code is 1. imapflow's log, with the
// raw protocol, goes to stderr.
import { ImapFlow } from 'imapflow';

const [host, port, user, pass, cyclesArg, transport] = process.argv.slice(2);
const cycles = Number(cyclesArg || 0);
// "tls": implicit TLS (the test server's self-signed certificate).
const secure = transport === 'tls';
const failures = [];

function check(what, got, want) {
    const g = JSON.stringify(got, (k, v) => (typeof v === 'bigint' ? v.toString() : v));
    const w = JSON.stringify(want);
    if (g !== w) failures.push(`${what}:\n   got: ${g}\n  want: ${w}`);
}

// imapflow calls these with log objects; print them as JSON lines on stderr
// and spot the moment IDLE is acknowledged by the server.
const log = (level) => (obj) => {
    if (obj.msg === 'Initiated IDLE, waiting for server input') console.log('IDLING');
    process.stderr.write(JSON.stringify({ level, ...obj }, (k, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
};
const logger = Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((l) => [l, log(l)]));

const timeout = setTimeout(() => {
    console.log('FAIL: timed out');
    process.exit(1);
}, 30000 + 1000 * cycles);

const client = new ImapFlow({
    host,
    port: Number(port),
    secure,
    tls: { rejectUnauthorized: false },
    doSTARTTLS: false,
    auth: { user, pass },
    logger,
    logRaw: true,
    qresync: true, // used only if the server advertises QRESYNC
});

await client.connect();

const list = await client.list();
check('LIST paths include INBOX', list.some((m) => m.path === 'INBOX'), true);

const mbox = await client.mailboxOpen('INBOX');
check('INBOX exists after open', mbox.exists, 1);

const first = await client.fetchOne('1', { uid: true, envelope: true, flags: true, bodyStructure: true, source: true });
check('envelope subject', first.envelope.subject, 'imapflow one');
check('envelope from', first.envelope.from.map((a) => a.address), ['alice@example.org']);
check('envelope messageId', first.envelope.messageId, '<flow-1@interop.test>');
check('bodyStructure type', first.bodyStructure.type, 'text/plain');
check('source ends with the body', first.source.toString().endsWith('first body\r\n'), true);
// \Recent is legitimate under IMAP4rev1; only the permanent flags matter.
check('flags of an unread message', [...first.flags].filter((f) => f !== '\\Recent'), []);

const delivered = new Promise((resolve) => client.on('exists', resolve));
// imapflow starts IDLE on its own once idle; idle() makes it start now. The
// next command (fetchOne below) ends it with DONE.
client.idle().catch((err) => failures.push(`IDLE: ${err.message}`));

const ev = await delivered;
check("'exists' event count", ev.count, 2);
check("'exists' event prevCount", ev.prevCount, 1);

const second = await client.fetchOne('2', { uid: true, envelope: true });
check('envelope subject of the delivered message', second.envelope.subject, 'imapflow two');
check('UID of the delivered message above the first', second.uid > first.uid, true);

for (let n = 3; n < 3 + cycles; n++) {
    const arrived = new Promise((resolve) => client.once('exists', resolve));
    client.idle().catch((err) => failures.push(`IDLE ${n}: ${err.message}`));
    console.log(`READY ${n}`);
    const e = await arrived;
    check(`'exists' count in cycle ${n}`, e.count, n);
    const m = await client.fetchOne(String(n), { envelope: true, source: true });
    check(`subject in cycle ${n}`, m.envelope.subject, `imapflow ${n}`);
    check(`body in cycle ${n}`, m.source.toString().endsWith(`body ${n}\r\n`), true);
    if (failures.length) break;
}

await client.logout();
clearTimeout(timeout);

if (failures.length) {
    console.log(`imapflow flow: ${failures.length} mismatches`);
    for (const f of failures) console.log(' -', f);
    process.exit(1);
}
console.log('imapflow flow: ok');
