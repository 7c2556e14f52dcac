using Mono.Cecil;

// Usage: Publicizer <output folder> <assembly.dll>...
// Makes every type, method, field, property accessor and event accessor public, so that the
// library can compile against ML.NET's model-persistence internals. The real assemblies are
// used at run time; IgnoresAccessChecksToAttribute tells the runtime to allow the access.
if (args.Length < 2)
{
    Console.Error.WriteLine("usage: Publicizer <output folder> <assembly.dll>...");
    return 2;
}

string outputFolder = args[0];
Directory.CreateDirectory(outputFolder);
foreach (string path in args.Skip(1))
{
    var resolver = new DefaultAssemblyResolver();
    resolver.AddSearchDirectory(Path.GetDirectoryName(path)!);
    using var assembly = AssemblyDefinition.ReadAssembly(path, new ReaderParameters { AssemblyResolver = resolver });
    foreach (TypeDefinition type in assembly.MainModule.GetTypes())
        Publicize(type);
    assembly.Write(Path.Combine(outputFolder, Path.GetFileName(path)));
}
return 0;

static void Publicize(TypeDefinition type)
{
    if (type.IsNested)
        type.IsNestedPublic = true;
    else
        type.IsPublic = true;

    foreach (MethodDefinition method in type.Methods)
        method.IsPublic = true;
    foreach (FieldDefinition field in type.Fields)
    {
        // Event backing fields share their event's name; keeping them private avoids CS0229 ambiguity.
        if (type.Events.Any(e => e.Name == field.Name))
            continue;
        field.IsPublic = true;
    }
}
