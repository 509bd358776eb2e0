// Tests run quiet: a test that wants the bridge's logs sets BRIDGE_TEST_LOG=debug (or info, …).
import { setLogLevel } from '../src/log.js';
import type { LogLevel } from '../src/log.js';

setLogLevel((process.env.BRIDGE_TEST_LOG as LogLevel | undefined) ?? 'silent');
