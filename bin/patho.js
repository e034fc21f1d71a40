#!/usr/bin/env node
// The patho command; the TypeScript is compiled to dist/ by `npm run build:ts`.
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
