// Preloaded (node --require) into a patho command by bench/wsi-memory.ts: prints the process's peak RSS as the last line of stderr.
process.on('exit', () => process.stderr.write(`\npeak RSS KiB ${process.resourceUsage().maxRSS}\n`));
