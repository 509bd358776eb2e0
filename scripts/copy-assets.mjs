// Run by `npm run build` after tsc: the dashboard's page and browser modules are served as they
// are, so they are copied next to the compiled server (dist/dashboard/public).
import { cp, rm } from 'node:fs/promises';

const from = new URL('../src/dashboard/public/', import.meta.url);
const to = new URL('../dist/dashboard/public/', import.meta.url);
await rm(to, { recursive: true, force: true });
await cp(from, to, { recursive: true });
