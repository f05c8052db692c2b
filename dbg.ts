import { openDatabase } from './src/db/client.js';
const db = await openDatabase({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1:5432/dbg_lg' }).catch(e => { console.log(e); process.exit(1); });
await db.prisma.workspace.create({ data: { id: 'w1', name: 'A', workingHours: {} } });
await db.prisma.contact.create({ data: { id: 'c1', workspaceId: 'w1' } });
await db.prisma.lead.create({ data: { id: 'l1', workspaceId: 'w1', contactId: 'c1', channel: 'email' } });
try { await db.prisma.$executeRaw`SELECT insight_counts_rebuild('w1')`; } catch (e) { console.log(e); }
await db.close();
