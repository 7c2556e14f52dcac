// Placeholder: this sample is written by the issue that delivers its feature.
Console.WriteLine("MulticlassClassification: not written yet.");
