#!/usr/bin/env node
// The only place that reads the process's arguments and environment.
import { runCli } from './cli/program.ts';
import { exitQuietlyOnClosedPipe } from './cli/closed-pipe.ts';

exitQuietlyOnClosedPipe(process.stdout);
exitQuietlyOnClosedPipe(process.stderr);

const code = await runCli(process.argv.slice(2), process.env, { stdout: process.stdout, stderr: process.stderr });
if (code !== 0) process.exitCode = code;
