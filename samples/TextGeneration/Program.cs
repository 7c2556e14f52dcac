// Placeholder: this sample is written by the issue that delivers its feature.
Console.WriteLine("TextGeneration: not written yet.");
