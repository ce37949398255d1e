export { parseSince, runDatasetExport, runModelValidate } from './dataset-cli.js';
export { type ExportRequest, type ExportSummary, exportDataset, MAX_EXPORT_ITEMS } from './export.js';
export { type BudgetView, type HardExampleOptions, HardExampleStore } from './hard-examples.js';
export { type HardnessPolicy, type HardReason, hardReasons } from './hardness.js';
export { datasetPaths } from './paths.js';
export { formatReport, type ValidationReport, validateModel } from './validate.js';
export { ZipReader } from './zip-reader.js';
export { crc32, ZipWriter } from './zip-writer.js';
