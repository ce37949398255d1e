#!/usr/bin/env node
// The installed binary: runs the compiled agent (npm run build writes dist/).
import '../dist/main.js';
