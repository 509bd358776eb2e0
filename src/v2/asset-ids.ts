// Asset ids of job outputs: derived from the job and the file, so every process of a cluster
// names an output the same way without storing anything, and an id says nothing about its owner
// (the asset routes look the job up and check it belongs to the caller).
import { v5 as uuidv5 } from 'uuid';

/** The namespace of output asset ids (a fixed random uuid). */
const OUTPUTS = '6f1c9a52-3d0e-4c55-9a61-0b7d2e8f4a13';

export interface OutputFileRef {
  filename: string;
  subfolder: string;
  type: string;
}

/** The asset id of one output file of a job. */
export function outputAssetId(jobId: string, file: OutputFileRef): string {
  return uuidv5(`${jobId}\n${file.type}\n${file.subfolder}\n${file.filename}`, OUTPUTS);
}
