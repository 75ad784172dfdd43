// The proxy alone in this process: the only file of the service that reads process.env or signals.
import { runAlone } from '@airlock/runtime';
import { service } from './index.js';

await runAlone(service, process.env);
